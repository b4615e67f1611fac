"""What both MQTT transports share (gateway/wire.py, gateway/transport.py): the inbox the network
thread fills and the event loop drains, the wake-up between them, subscriptions added at run
time, and a lifetime that starts once.

    async with open_transport(settings.mqtt, filters, client_id=..., wake=event.set) as transport:
        batch = transport.drain(2000)
        transport.ack(batch)          # after the rows are stored

A transport is an async context manager (`gateway.types.Transport`): entering connects (a
ConnectError when the broker cannot be reached or refuses), leaving disconnects; it is not
reusable, and a second start is refused with TransportError.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable, Sequence
from typing import Self

from gateway.errors import TransportError
from gateway.types import ConnectionState
from mqttwire.packets import Inbound
from twin.config import MqttSettings

__all__ = ["InboxTransport"]


class InboxTransport:
    """The shared half of a transport; subclasses connect in `_start` and disconnect in `stop`."""

    protocol: int | None

    def __init__(self, settings: MqttSettings, filters: tuple[str, ...], *, client_id: str, manual_ack: bool = True,
                 wake: Callable[[], None] | None = None):
        self.settings = settings
        self.filters = filters
        self.client_id = client_id
        self.manual_ack = manual_ack
        self.state = ConnectionState.IDLE
        self.reconnects = 0
        self.connected = threading.Event()
        self.inbox: collections.deque[Inbound] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = wake
        self._wake_pending = False

    # -- lifetime -------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start, asyncio.get_running_loop(), self._wake)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def start(self, loop: asyncio.AbstractEventLoop, wake: Callable[[], None] | None, timeout: float = 10.0) -> None:
        """Connect and start the network thread; `wake()` is called on `loop` when messages arrive."""
        if self.state is not ConnectionState.IDLE:
            raise TransportError(f"the MQTT transport of {self.client_id} was started before (it is "
                                 f"{self.state.value}); a transport starts once: make a new one")
        self._loop, self._wake = loop, wake
        self._start(timeout)

    def _start(self, timeout: float) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    # -- the network thread's side -------------------------------------------------------
    def _arrived(self) -> None:
        """Messages were put in the inbox: wake the event loop, once until it has looked."""
        if not self._wake_pending and self._loop is not None:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._woken)
            except RuntimeError:  # the loop is closed: the gateway is gone
                self._wake_pending = False

    def _woken(self) -> None:
        self._wake_pending = False
        if self._wake is not None:
            self._wake()

    # -- the event loop's side -------------------------------------------------------------
    def drain(self, limit: int) -> list[Inbound]:
        inbox = self.inbox
        pop = inbox.popleft
        return [pop() for _ in range(min(limit, len(inbox)))]

    def subscribe(self, filters: Sequence[str]) -> None:
        """Subscribe to more topic filters at run time; they are subscribed again after a reconnect."""
        new = tuple(f for f in dict.fromkeys(filters) if f not in self.filters)
        if not new:
            return
        self.filters = self.filters + new
        if self.connected.is_set():
            self._subscribe_more(new)

    def _subscribe_more(self, filters: tuple[str, ...]) -> None:
        raise NotImplementedError
