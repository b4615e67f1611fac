"""Retention in the gateway: `twin.store.retention.prune` every `store.prune_interval_s`.

Runs in a worker thread so the event loop keeps receiving; a failed prune (the store away, a
lock held too long) is logged and tried again at the next interval, never taking the gateway down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from twin.config import StoreSettings
from twin.errors import StoreError
from twin.store.retention import prune

if TYPE_CHECKING:
    from twin.store.base import TwinStore

log = logging.getLogger(__name__)


async def run_retention(store: TwinStore, settings: StoreSettings, *, clock=time.time) -> None:
    """Apply retention now and then every `settings.prune_interval_s`, until cancelled; with
    retention off (both day counts 0) it only waits."""
    if not (settings.readings_days or settings.hourly_days):
        await asyncio.Event().wait()
    while True:
        try:
            report = await asyncio.to_thread(prune, store, readings_days=settings.readings_days,
                                             hourly_days=settings.hourly_days, now=clock())
            log.debug("retention: %s", report)
        except StoreError as exc:
            log.warning("retention of the store failed: %s; trying again in %.0f s", exc, settings.prune_interval_s)
        await asyncio.sleep(settings.prune_interval_s)
