"""Shared helpers of the simulator tests: a small grid built from shapely boxes and an MQTT collector."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import aiomqtt
import shapely

from twin.grid.cells import Cell, Grid

# 3 x 2 cells of 0.002 degrees (about 200 m) near Kaifeng's old city, plus an L-shaped
# cell, whose bounding box contains points outside it, to test sampling inside polygons.
_ORIGIN = (114.340, 34.790)
_SIZE = 0.002


def small_grid() -> Grid:
    cells = []
    seq = itertools.count(1)
    for row in range(2):
        for col in range(3):
            x0, y0 = _ORIGIN[0] + col * _SIZE, _ORIGIN[1] - (row + 1) * _SIZE
            code = f"410204001001{next(seq):03d}"
            cells.append(Cell(code, f"Grid {code[-3:]}", shapely.box(x0, y0, x0 + _SIZE, y0 + _SIZE)))
    x0, y0 = _ORIGIN[0] + 3 * _SIZE, _ORIGIN[1] - 2 * _SIZE
    ell = shapely.Polygon([(x0, y0), (x0 + _SIZE, y0), (x0 + _SIZE, y0 + 0.0004), (x0 + 0.0004, y0 + 0.0004),
                           (x0 + 0.0004, y0 + 2 * _SIZE), (x0, y0 + 2 * _SIZE)])
    cells.append(Cell(f"410204001002{next(seq):03d}", "Grid L", ell))
    return Grid(cells, meta={"name": "test grid"})


class Collector:
    """Every message on `topics`, received by an independent client (aiomqtt), as (topic, payload, retain)."""

    def __init__(self, broker, *topics: str, identifier: str | None = None, clean_session: bool = True):
        self.broker, self.topics = broker, topics
        self.identifier = identifier or f"test-{uuid.uuid4().hex[:8]}"
        self.clean_session = clean_session
        self.messages: list[tuple[str, bytes, bool]] = []
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task | None = None
        self._new = asyncio.Event()

    async def __aenter__(self) -> "Collector":
        self._client = aiomqtt.Client(
            self.broker.host, self.broker.port, identifier=self.identifier, clean_session=self.clean_session
        )
        await self._client.__aenter__()
        for topic in self.topics:
            await self._client.subscribe(topic, qos=1)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        # Straight from aiomqtt's queue rather than `client.messages`: cancelling that iterator
        # can drop a message it already took, and Queue.get() is safe to cancel.
        queue = self._client._queue
        while True:
            self._keep(await queue.get())

    def _keep(self, message) -> None:
        self.messages.append((message.topic.value, bytes(message.payload), message.retain))
        self._new.set()

    def _drain(self) -> None:
        # Messages the client already acknowledged but nobody read yet; a persistent-session
        # test would otherwise miss them.
        queue = self._client._queue
        while not queue.empty():
            self._keep(queue.get_nowait())

    async def wait_for(self, predicate, timeout: float = 5.0) -> list[tuple[str, bytes, bool]]:
        """Wait until `predicate(messages)` is true; return the messages."""
        deadline = time.monotonic() + timeout
        while not predicate(self.messages):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout} s; got {len(self.messages)} message(s): {self.messages[-5:]}")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return self.messages

    def on(self, topic: str) -> list[bytes]:
        return [payload for t, payload, _ in self.messages if t == topic]

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, aiomqtt.MqttError):
            pass
        self._drain()
        await self._client.__aexit__(None, None, None)
        self._drain()


def unique(prefix: str) -> str:
    """A topic prefix or id no other test uses, since the session broker keeps retained messages."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
