"""The web app's state: one Context per app, built by `create_app` and run by the app's lifespan.

Handlers reach it one way, `context(request)`; code holding the app uses `app.state.ctx`. The
lifespan's `ctx.running()` starts the live feed and, on shutdown, ends the streams, stops the
feed and closes the store when the app opened it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from maps.auth import Auth
from maps.hub import Hub
from maps.live import CellBoard, LiveFeed
from maps.payloads import CellFeatures
from maps.prometheus import WebMetrics
from twin.cases.book import CaseBook
from twin.config import Settings
from twin.grid.cells import Grid
from twin.store import redact
from twin.store.base import TwinStore

if TYPE_CHECKING:  # maps.basemap's routes reach the app through this module
    from maps.basemap import Basemap

__all__ = ["Context", "PageCache", "context"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class PageCache:
    """Rendered pages by key (page, language): the grid and settings never change for an app, so each
    page is rendered once, in a worker thread (folium takes a while on a large grid)."""

    def __init__(self) -> None:
        self._pages: dict[tuple[str, ...], object] = {}

    async def get(self, key: tuple[str, ...], render: Callable[[], T]) -> T:
        if key not in self._pages:
            self._pages[key] = await run_in_threadpool(render)
        return self._pages[key]  # type: ignore[return-value]  # stored by this same key and render


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    store: TwinStore
    grid: Grid
    hub: Hub
    board: CellBoard
    feed: LiveFeed
    features: CellFeatures
    auth: Auth
    book: CaseBook  # the case loop; its clock is the app's clock
    metrics: WebMetrics  # the Prometheus registry of this app
    security_headers: dict[str, str]  # what every answer carries (see maps/headers.py)
    basemap: Basemap  # what the maps draw under their cells (maps/basemap.py)
    own_store: bool = False  # opened by the app, so closed by it
    heartbeat: float = 15.0  # seconds of silence after which a stream gets a comment line
    pages: PageCache = field(default_factory=PageCache)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Context]:
        """The live feed for the app's lifetime; on the way out every stream is ended first."""
        try:
            await self.feed.poll_once()  # the baseline: what the store knows when we start
        except Exception as exc:  # noqa: BLE001  # the feed's own loop keeps retrying
            log.warning("reading cell states from %s failed: %s", redact(self.store.url), exc)
        task = asyncio.create_task(self.feed.run(), name="maps-live-feed")
        task.add_done_callback(_report_crash)
        try:
            yield self
        finally:
            self.hub.close()
            task.cancel()
            # A broker that does not answer the DISCONNECT must not hold up the shutdown.
            await asyncio.wait({task}, timeout=3.0)
            if not task.done():
                log.warning("the live feed did not stop within 3 s; leaving it behind")
            if self.own_store:
                await run_in_threadpool(self.store.close)


def _report_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the live feed stopped: %s", task.exception(), exc_info=task.exception())


def context(request: Request) -> Context:
    """The Context of the app serving `request`."""
    return request.app.state.ctx
