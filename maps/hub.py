"""Fan-out of live events to Server-Sent Events clients.

Each event is encoded once and queued to every client. A client too slow to
keep up (its queue is full) is disconnected rather than slowing the others; its
browser reconnects by itself and reloads the current state on `hello`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import orjson

log = logging.getLogger(__name__)

_CLOSE = None  # queued to end one client's stream


def sse_event(event: str, data: dict) -> bytes:
    """One SSE message: `event:` and a single-line JSON `data:`."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class Hub:
    """Live events to every connected stream. Use only from the event loop's thread."""

    def __init__(self, queue_size: int = 2000):
        self.queue_size = queue_size
        self._queues: set[asyncio.Queue[bytes | None]] = set()
        self.published = 0
        self.dropped_clients = 0

    @property
    def clients(self) -> int:
        return len(self._queues)

    def publish(self, event: str, data: dict) -> None:
        if not self._queues:
            return
        message = sse_event(event, data)
        self.published += 1
        for queue in tuple(self._queues):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("stream client fell %d events behind; disconnecting it", self.queue_size)
                self._drop(queue)

    def _drop(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._queues.discard(queue)
        self.dropped_clients += 1
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(_CLOSE)

    def close(self) -> None:
        """End every stream (server shutdown)."""
        for queue in tuple(self._queues):
            self._drop(queue)

    async def stream(self, first: bytes, heartbeat: float) -> AsyncIterator[bytes]:
        """A client's stream: `first`, then every event published from now on, and a comment
        line whenever nothing was sent for `heartbeat` seconds (keeps proxies from closing it)."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(self.queue_size)
        self._queues.add(queue)
        try:
            yield first
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), heartbeat)
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                if message is _CLOSE:
                    return
                yield message
        finally:
            self._queues.discard(queue)
