"""The gateway's status: its figures, retained on `{prefix}/gateways/{instance}`.

Every gateway, in a group or not, publishes its figures (`Gateway.summary()`) at most every
`STATUS_MIN_S` while they change and every `STATUS_IDLE_S` otherwise: a heartbeat for operators,
and the progress a test or a replay waits for. The last one, at shutdown, says `"stopped": true`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import orjson

from gateway.types import Publish

log = logging.getLogger(__name__)

__all__ = ["StatusDesk"]


class StatusDesk:
    STATUS_MIN_S = 0.05
    STATUS_IDLE_S = 5.0

    def __init__(self, prefix: str, instance: str, publish: Publish, figures: Callable[[], dict]):
        self.topic = f"{prefix}/gateways/{instance}"
        self.publish = publish
        self.figures = figures

    async def run(self) -> None:
        """Publish the figures while the gateway runs; the stopped status when cancelled."""
        last, last_at = None, 0.0
        try:
            while True:
                await asyncio.sleep(self.STATUS_MIN_S)
                status = self.figures()
                now = time.monotonic()
                if status != last or now - last_at >= self.STATUS_IDLE_S:
                    self._publish(status)
                    last, last_at = status, now
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self._publish({**self.figures(), "stopped": True})
            raise

    def _publish(self, status: dict) -> None:
        try:
            payload = orjson.dumps({**status, "time": time.time()}, option=orjson.OPT_NON_STR_KEYS)
            self.publish(self.topic, payload, qos=1, retain=True)
        except Exception:  # the status is a convenience: it never takes the gateway down
            log.exception("publishing the gateway status on %s failed", self.topic)
