"""A lean asyncio MQTT 3.1.1 client for simulated devices: one socket per device, no threads.

A fleet of thousands of devices cannot afford a paho client each (a thread or a
socketpair per client, and Python-level packet handling on both sides of it).
This client speaks the part of MQTT 3.1.1 a device needs: CONNECT with will,
user name, password and keep-alive; PUBLISH at QoS 0 and 1 with PUBACK
tracking; unacknowledged QoS 1 messages sent again with DUP after a
reconnect; PINGREQ; DISCONNECT. It never subscribes.

    client = MqttClient("127.0.0.1", 1883, "dev-aq-0001",
                        will=Will("gridtwin/v1/status/aq-0001", b"offline", qos=1, retain=True))
    async with client:
        await client.publish("gridtwin/v1/readings/aq-0001", b"{...}", qos=1)

The client is reusable (connect again after a loss) but not re-entrant;
reconnecting is the caller's loop, not the client's.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import ssl as _ssl
import struct

from firmware_sim.errors import ConnectError, ConnectRefused, MqttError, NotConnected, ProtocolError
from mqttwire.packets import (
    CONNACK,
    DISCONNECT_PACKET,
    DUP,
    PINGREQ_PACKET,
    PINGRESP,
    PUBACK,
    PUBLISH,
    MalformedPacket,
    PacketReader,
    Will,
    connect_packet,
    publish_packet,
)
from mqttwire.tls import describe_tls_error

log = logging.getLogger(__name__)

class State(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSING = "closing"


class _Protocol(asyncio.Protocol):
    """Frames bytes from the socket into packets for its client (mqttwire.packets.PacketReader)."""

    def __init__(self, client: "MqttClient"):
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.reader = PacketReader(client._packet)
        self.publishes: collections.deque = collections.deque()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data, self.publishes, 0.0)
        except MalformedPacket as exc:
            self.client._protocol_error(str(exc))
            return
        while self.publishes:  # a device never subscribes, so none is expected: log and carry on
            self.client._unexpected(PUBLISH, self.publishes.popleft().topic)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._lost(self, exc)


class MqttClient:
    """One MQTT 3.1.1 connection of one device. See the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        keepalive: int = 60,
        clean_session: bool = False,
        will: Will | None = None,
        username: str | None = None,
        password: str | None = None,
        ssl: _ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
    ):
        self.host, self.port, self.client_id = host, port, client_id
        self.keepalive = keepalive
        self.clean_session = clean_session
        self.will = will
        self.username, self.password = username, password
        self.ssl = ssl
        self.connect_timeout = connect_timeout
        self.state = State.DISCONNECTED
        self.session_present = False
        self._protocol: _Protocol | None = None
        self._connack: asyncio.Future | None = None
        self._closed: asyncio.Future | None = None
        # packet id -> [packet, future, sent before]; dicts keep insertion order, so resends keep it too
        self._inflight: dict[int, list] = {}
        self._next_id = 1
        self._last_sent = self._last_received = 0.0
        self._ping_sent: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- lifetime ------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.state is State.CONNECTED

    @property
    def inflight(self) -> int:
        """QoS 1 messages sent (or queued) and not yet acknowledged."""
        return len(self._inflight)

    @property
    def closed(self) -> asyncio.Future | None:
        """A future that completes when the current (or last) connection is gone, with the
        reason (None after a clean disconnect); None before the first connect."""
        return self._closed

    def unacknowledged(self) -> list[asyncio.Future]:
        """The futures of QoS 1 messages not yet acknowledged, oldest first."""
        return [entry[1] for entry in self._inflight.values()]

    async def connect(self) -> bool:
        """Open the connection and wait for CONNACK; return the broker's session-present flag.

        Raises ConnectRefused when the broker refuses, ConnectError when it cannot be reached.
        """
        if self.state is not State.DISCONNECTED:
            raise MqttError(f"client {self.client_id} is {self.state.value}; connect() needs a disconnected client")
        loop = asyncio.get_running_loop()
        self.state = State.CONNECTING
        self._connack = loop.create_future()
        self._closed = loop.create_future()
        try:
            await asyncio.wait_for(self._open(loop), self.connect_timeout)
        except BaseException as exc:
            self._abort_transport()
            self._reset()
            if not self._closed.done():
                self._closed.set_result(exc if isinstance(exc, Exception) else None)
            if isinstance(exc, ConnectRefused):
                raise
            if isinstance(exc, _ssl.SSLError):
                raise ConnectError(f"client {self.client_id}: {describe_tls_error(exc, self.host, self.port)}") from exc
            if isinstance(exc, (OSError, asyncio.TimeoutError, ProtocolError, ConnectionError)):
                raise ConnectError(f"client {self.client_id} cannot connect to {self.host}:{self.port}: {exc or 'timeout'}") from exc
            raise
        return self.session_present

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        protocol = _Protocol(self)
        self._protocol = protocol
        await loop.create_connection(lambda: protocol, self.host, self.port, ssl=self.ssl)
        self._write(
            connect_packet(
                self.client_id,
                self.keepalive,
                clean_session=self.clean_session,
                will=self.will,
                username=self.username,
                password=self.password,
            )
        )
        await asyncio.shield(self._connack)
        self.state = State.CONNECTED
        now = loop.time()
        self._last_received = now
        for entry in self._inflight.values():
            packet = entry[0]
            if entry[2]:
                packet[0] |= DUP
            entry[2] = True
            self._write(packet)
        self._schedule_keepalive()

    async def disconnect(self) -> None:
        """Send DISCONNECT (the broker then discards the will) and close the connection."""
        if self.state is State.DISCONNECTED:
            return
        protocol = self._protocol
        if self.state is State.CONNECTED and protocol and protocol.transport:
            self.state = State.CLOSING
            protocol.transport.write(DISCONNECT_PACKET)
            protocol.transport.close()
        else:
            self._abort_transport()
        closed = self._closed
        if closed is not None and not closed.done():
            try:
                await asyncio.wait_for(asyncio.shield(closed), 5.0)
            except asyncio.TimeoutError:
                self._abort_transport()

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a device losing power would: the broker publishes the will."""
        self._abort_transport()

    async def wait_closed(self) -> Exception | None:
        """Wait until the current connection is gone; return why (None after a clean disconnect)."""
        if self._closed is None:
            return None
        return await asyncio.shield(self._closed)

    async def __aenter__(self) -> "MqttClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.disconnect()

    # -- publishing ----------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> asyncio.Future:
        """Send a message; return a future that completes when it is delivered to the broker.

        QoS 0 completes on sending and needs a connection (NotConnected otherwise).
        QoS 1 completes on PUBACK; without a connection it is queued and sent on
        the next connect. Unacknowledged QoS 1 messages are sent again, with DUP,
        after a reconnect.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if qos == 0:
            if not self.connected:
                raise NotConnected(f"client {self.client_id} is not connected; cannot publish on {topic}")
            self._write(publish_packet(topic, payload, 0, retain))
            future.set_result(None)
            return future
        if qos != 1:
            raise ValueError(f"qos {qos} is not supported (0 or 1)")
        packet_id = self._packet_id()
        packet = publish_packet(topic, payload, 1, retain, packet_id)
        self._inflight[packet_id] = [packet, future, self.connected]
        if self.connected:
            self._write(packet)
        return future

    def _packet_id(self) -> int:
        for _ in range(65535):
            packet_id = self._next_id
            self._next_id = packet_id % 65535 + 1
            if packet_id not in self._inflight:
                return packet_id
        raise MqttError(f"client {self.client_id} has 65535 unacknowledged messages")

    # -- wire ----------------------------------------------------------------
    def _write(self, data: bytes | bytearray) -> None:
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.transport.is_closing():
            return
        protocol.transport.write(bytes(data))
        self._last_sent = asyncio.get_running_loop().time()

    def _packet(self, first: int, body: memoryview) -> None:
        self._last_received = asyncio.get_running_loop().time()
        kind = first & 0xF0
        if kind == PUBACK:
            if len(body) != 2:
                return self._protocol_error("PUBACK of wrong length")
            entry = self._inflight.pop(struct.unpack("!H", body)[0], None)
            if entry is not None and not entry[1].done():
                entry[1].set_result(None)
        elif kind == PINGRESP:
            self._ping_sent = None
        elif kind == CONNACK:
            if len(body) != 2:
                return self._protocol_error("CONNACK of wrong length")
            if self._connack is None or self._connack.done():
                return self._protocol_error("unexpected CONNACK")
            self.session_present = bool(body[0] & 1)
            if body[1]:
                self._connack.set_exception(ConnectRefused(self.client_id, body[1]))
            else:
                self._connack.set_result(None)
        else:
            self._unexpected(first)

    def _unexpected(self, first: int, topic: str = "") -> None:
        # A device never subscribes, so nothing else is expected; log and carry on.
        log.warning("client %s: ignored MQTT packet type 0x%02x%s from %s:%d", self.client_id, first,
                    f" on {topic}" if topic else "", self.host, self.port)

    def _protocol_error(self, what: str) -> None:
        log.warning("client %s: protocol error from %s:%d: %s", self.client_id, self.host, self.port, what)
        exc = ProtocolError(f"client {self.client_id}: {what}")
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(exc)
        self._abort_transport()

    def _abort_transport(self) -> None:
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abort()

    def _lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is not self._protocol:
            return
        clean = self.state is State.CLOSING
        reason = None if clean else (exc or ConnectionResetError("connection closed by the broker"))
        if self._connack is not None and not self._connack.done():
            hint = "" if self.ssl else " (if it is a TLS listener, set mqtt.tls = true)"
            self._connack.set_exception(ConnectError(
                f"client {self.client_id}: {self.host}:{self.port} closed the connection before CONNACK{hint}"))
            self._connack.exception()  # retrieved here; connect() reports its own error
        closed = self._closed
        self._reset()
        if closed is not None and not closed.done():
            closed.set_result(reason)
        if not clean:
            log.info("client %s lost its connection to %s:%d: %s", self.client_id, self.host, self.port, reason)

    def _reset(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._protocol = None
        self._ping_sent = None
        self.state = State.DISCONNECTED

    # -- keep-alive ----------------------------------------------------------
    def _schedule_keepalive(self) -> None:
        if not self.keepalive or self.state is not State.CONNECTED:
            return
        loop = asyncio.get_running_loop()
        if self._ping_sent is not None:
            due = self._ping_sent + self.keepalive
        else:
            due = min(self._last_sent, self._last_received) + self.keepalive
        self._timer = loop.call_at(max(due, loop.time() + 0.05), self._keepalive)

    def _keepalive(self) -> None:
        self._timer = None
        if self.state is not State.CONNECTED:
            return
        now = asyncio.get_running_loop().time()
        if self._ping_sent is not None:
            if now - self._ping_sent >= self.keepalive:
                log.warning(
                    "client %s: no PINGRESP from %s:%d within %d s; dropping the connection",
                    self.client_id, self.host, self.port, self.keepalive,
                )
                self._abort_transport()
                return
        elif now - min(self._last_sent, self._last_received) >= self.keepalive - 0.01:
            self._ping_sent = now
            self._write(PINGREQ_PACKET)
        self._schedule_keepalive()
