"""The gateway's own MQTT 3.1.1 client: one socket, large reads, PUBLISH packets parsed in a tight loop.

paho handles every received message in several layers of Python (packet
object, properties, callbacks, one queued PUBACK each), which cost the gateway
about as much CPU as the rest of its pipeline. This transport reads up to
256 KiB at a time and turns every complete PUBLISH in it into an `Inbound`, so
a busy second costs a few hundred system calls instead of tens of thousands
(the packets themselves are in mqttwire/packets.py). It has the same surface
as the paho transport (gateway/transport.py), `gateway.types.Transport`:

    async with NativeTransport(settings.mqtt, filters, client_id="gridtwin-gateway", wake=wake) as transport:
        batch = transport.drain(2000)   # connected (ConnectError if refused); a network thread fills the inbox
        transport.ack(batch)            # after the rows are stored: one write of PUBACKs
        transport.publish(topic, payload, qos=1, retain=True)

The session is persistent (clean session off, fixed client id), so what was
not acknowledged before a crash or a lost connection is sent again. The
network thread owns the socket: it reads, writes what other threads queued,
keeps the connection alive with PINGREQ, and reconnects with backoff (1 s to
30 s), subscribing again and sending unacknowledged QoS 1 publishes again
with DUP. TLS (`mqtt.tls` and its files, mqttwire/tls.py) wraps the same socket.
"""

from __future__ import annotations

import collections
import logging
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence

from gateway.errors import ConnectError
from gateway.inbox import InboxTransport
from gateway.transport import MqttTransport
from gateway.types import ConnectionState
from mqttwire.packets import (
    CONNACK_CODES,
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    Inbound,
    MalformedPacket,
    PacketReader,
    connect_packet,
    pubacks,
    publish_packet,
    subscribe_packet,
)
from mqttwire.tls import client_context, describe_tls_error
from twin.config import MqttSettings

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
INBOX_LIMIT = 100_000  # messages received but not drained; past it the socket is left unread (TCP backpressure)


class _Lost(ConnectionError):
    """The connection broke or the broker sent something this client cannot read."""


class NativeTransport(InboxTransport):
    """One MQTT 3.1.1 connection with the paho transport's surface; see the module docstring.
    Started once (gateway/inbox.py)."""

    def __init__(self, settings: MqttSettings, filters: tuple[str, ...], *, client_id: str,
                 manual_ack: bool = True, protocol: str | None = None, wake: Callable[[], None] | None = None):
        if (protocol or "3.1.1") != "3.1.1":
            raise ValueError(f"the native MQTT client speaks 3.1.1 only, not {protocol}")
        super().__init__(settings, filters, client_id=client_id, manual_ack=manual_ack, wake=wake)
        self.protocol = 4
        self.subscribed = threading.Event()  # the broker acknowledged this connection's subscriptions
        self._connect_subscription: int | None = None
        self._sock: socket.socket | None = None
        self._reader: PacketReader | None = None
        self._queue: collections.deque[bytes | bytearray] = collections.deque()  # packets other threads want sent
        self._signal_r, self._signal_w = socket.socketpair()
        self._signal_r.setblocking(False)
        self._signal_w.setblocking(False)
        self._signalled = False
        self._lock = threading.Lock()  # packet ids and the in-flight table
        self._next_mid = 1
        self._inflight: dict[int, tuple[str, bytes, bool]] = {}  # our QoS 1 publishes awaiting PUBACK
        self._subscribing: dict[int, tuple[str, ...]] = {}
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sent = self._last_received = 0.0
        self._ping_sent: float | None = None
        self._tls = client_context(settings)  # None without mqtt.tls; ConfigError for unusable files

    @property
    def unacknowledged(self) -> int:
        """Our QoS 1 publishes the broker has not acknowledged yet (sent again after a reconnect)."""
        return len(self._inflight)

    # -- lifetime -------------------------------------------------------------
    def _start(self, timeout: float) -> None:
        """Connect (raising ConnectError when the broker cannot be reached or refuses) and start the thread."""
        self._open(timeout)
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.client_id}", daemon=True)
        self._thread.start()
        # Messages published to a new session before its subscriptions are in place are not kept for it.
        if not self.subscribed.wait(timeout):
            log.warning("MQTT broker %s:%d has not acknowledged the subscriptions within %.0f s",
                        self.settings.host, self.settings.port, timeout)

    def stop(self) -> None:
        """Send DISCONNECT (the broker keeps the session) and end the network thread."""
        self.state = ConnectionState.CLOSED
        if self._thread is None:
            return
        self._closing.set()  # first: the broker closing the socket after DISCONNECT is no loss to report
        self._send(DISCONNECT_PACKET)
        self._thread.join(10)
        self._thread = None
        self._signal_r.close()
        self._signal_w.close()

    def _open(self, timeout: float) -> None:
        s = self.settings
        self.state = ConnectionState.CONNECTING
        try:
            sock = socket.create_connection((s.host, s.port), timeout=timeout)
        except OSError as exc:
            raise ConnectError(f"cannot reach MQTT broker {s.host}:{s.port}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:  # made from mqtt.tls
                try:
                    sock = self._tls.wrap_socket(sock, server_hostname=s.host)
                except (ssl.SSLError, ssl.CertificateError) as exc:
                    raise ConnectError(describe_tls_error(exc, s.host, s.port)) from exc
            sock.sendall(connect_packet(self.client_id, s.keepalive, clean_session=False, username=s.username,
                                       password=s.password))
            reader = PacketReader(self._control)
            head = self._read_connack(sock, s)
            session_present = bool(head[2] & 1)
        except ConnectError:
            sock.close()
            raise
        except OSError as exc:  # ssl.SSLError included: a required client certificate fails after the handshake
            sock.close()
            raise ConnectError(f"MQTT broker {s.host}:{s.port} closed the connection before answering CONNECT "
                               f"({exc}); {self._hint()}") from exc
        sock.setblocking(False)
        self._sock, self._reader = sock, reader
        reader.buffer = bytearray(head[4:])  # PUBLISHes the broker sent right after CONNACK
        self._last_sent = self._last_received = time.monotonic()
        self._ping_sent = None
        # The queue holds packets of the lost connection (PUBACKs whose ids the broker will send again
        # with the messages, packets already in flight): only what follows is valid on this one.
        self._queue.clear()
        with self._lock:
            resend = [publish_packet(t, p, 1, r, mid, dup=True) for mid, (t, p, r) in self._inflight.items()]
        self.subscribed.clear()
        self._connect_subscription = self._subscribe(self.filters)
        self._queue.extend(resend)
        self.state = ConnectionState.CONNECTED
        self.connected.set()
        log.info("MQTT connected to %s:%d as %s (session present: %s)", s.host, s.port, self.client_id,
                 session_present)

    def _read_connack(self, sock: socket.socket, s: MqttSettings) -> bytes:
        data = b""
        while len(data) < 4:
            try:
                chunk = sock.recv(READ_SIZE)
            except TimeoutError as exc:
                raise ConnectError(f"no CONNACK from {s.host}:{s.port} within the connect timeout") from exc
            if not chunk:
                raise ConnectError(f"MQTT broker {s.host}:{s.port} closed the connection before answering "
                                   f"CONNECT; {self._hint()}")
            data += chunk
        if data[0] != 0x20 or data[1] != 2:
            raise ConnectError(f"MQTT broker {s.host}:{s.port} answered CONNECT with packet type {data[0] >> 4}")
        if data[3]:
            reason = CONNACK_CODES.get(data[3], f"code {data[3]}")
            raise ConnectError(f"MQTT broker {s.host}:{s.port} refused the connection of {self.client_id}: {reason}")
        return data

    def _hint(self) -> str:
        # A TLS listener drops a plain CONNECT; one that requires a client certificate drops a client without.
        return ("if it requires a client certificate, set mqtt.cert_file and mqtt.key_file" if self.settings.tls
                else "if it is a TLS listener, set mqtt.tls = true")

    # -- network thread ---------------------------------------------------------
    def _run(self) -> None:
        s = self.settings
        backoff = 1.0
        while not self._closing.is_set():
            if self._sock is None:
                try:
                    self._open(10.0)
                except ConnectError as exc:
                    log.warning("MQTT reconnect to %s:%d failed: %s; next try in %.0f s", s.host, s.port, exc, backoff)
                    self._closing.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 1.0
                self.reconnects += 1
            try:
                self._serve()
            except (OSError, _Lost, MalformedPacket) as exc:
                if not self._closing.is_set():
                    log.warning("MQTT connection to %s:%d lost (%s); reconnecting", s.host, s.port, exc)
            finally:
                self.connected.clear()
                if self.state != ConnectionState.CLOSED:
                    self.state = ConnectionState.DISCONNECTED
                sock, self._sock = self._sock, None
                if sock is not None:
                    sock.close()

    def _serve(self) -> None:
        """Read, write and ping until the connection breaks or the transport stops."""
        sock, reader, inbox = self._sock, self._reader, self.inbox
        assert sock is not None and reader is not None  # _open made them
        keepalive = float(self.settings.keepalive or 0)
        pending = sock.pending if isinstance(sock, ssl.SSLSocket) else None  # TLS: decrypted bytes not read yet
        selector = selectors.DefaultSelector()
        selector.register(self._signal_r, selectors.EVENT_READ)
        selector.register(sock, selectors.EVENT_READ)
        interest = selectors.EVENT_READ
        out = bytearray()
        try:
            if reader.buffer:
                self._received(reader, b"", inbox)
            while True:
                closing = self._closing.is_set()
                # Cleared before looking at the queue, so that a packet queued after the look signals
                # again (and a signal without a packet, drain() resuming the reads, is not left set).
                self._signalled = False
                if self._queue:
                    self._take_queue(out)
                if closing and not out:
                    return
                paused = len(inbox) >= INBOX_LIMIT
                now = time.monotonic()
                timeout = self._keepalive(now, keepalive, paused, out) if keepalive else None
                want = (0 if paused else selectors.EVENT_READ) | (selectors.EVENT_WRITE if out else 0)
                if want != interest:
                    if want:
                        (selector.modify if interest else selector.register)(sock, want)
                    else:
                        selector.unregister(sock)
                    interest = want
                if pending is not None and not paused and pending():
                    timeout = 0
                if closing:
                    timeout = 0.5 if timeout is None else min(timeout, 0.5)
                events = selector.select(timeout)
                for key, mask in events:
                    if key.fileobj is self._signal_r:
                        try:
                            self._signal_r.recv(4096)
                        except BlockingIOError:
                            pass
                        continue
                    if mask & selectors.EVENT_READ:
                        self._read(sock, reader, inbox)
                    if mask & selectors.EVENT_WRITE and out:
                        self._write(sock, out)
                if pending is not None and not paused and pending():
                    self._read(sock, reader, inbox)
                if out and not events:
                    self._write(sock, out)
                if closing and not events and out:
                    return  # the broker is not taking the DISCONNECT; closing the socket is as good
        finally:
            selector.close()

    def _take_queue(self, out: bytearray) -> None:
        queue = self._queue
        while queue:
            out += queue.popleft()

    def _keepalive(self, now: float, keepalive: float, paused: bool, out: bytearray) -> float:
        """Queue a PINGREQ when the connection has been quiet; the seconds until the next check."""
        if self._ping_sent is not None:
            if paused:
                self._ping_sent = now  # nothing is read while paused: the answer cannot arrive yet
            elif now - self._ping_sent > keepalive:
                raise _Lost(f"no PINGRESP within {keepalive:.0f} s")
            return max(0.05, self._ping_sent + keepalive - now)
        due = min(self._last_sent, self._last_received) + keepalive * 0.75
        if now >= due:
            out += PINGREQ_PACKET
            self._ping_sent = now
            return keepalive
        return max(0.05, due - now)

    def _read(self, sock, reader: PacketReader, inbox) -> None:
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError, InterruptedError):
            return
        if not data:
            raise _Lost("the broker closed the connection")
        self._received(reader, data, inbox)

    def _received(self, reader: PacketReader, data: bytes, inbox) -> None:
        self._last_received = time.monotonic()
        if reader.feed(data, inbox, time.time()):
            self._arrived()

    def _write(self, sock, out: bytearray) -> None:
        try:
            sent = sock.send(out)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError, InterruptedError):
            return
        del out[:sent]
        self._last_sent = time.monotonic()

    def _control(self, first: int, body: memoryview) -> None:
        """A packet other than PUBLISH, in the network thread."""
        kind = first & 0xF0
        if kind == 0x40:  # PUBACK of one of our publishes
            with self._lock:
                self._inflight.pop((body[0] << 8) | body[1], None)
        elif kind == 0xD0:  # PINGRESP
            self._ping_sent = None
        elif kind == 0x90:  # SUBACK: 0x80 for a filter the broker refused
            mid = (body[0] << 8) | body[1]
            filters = self._subscribing.pop(mid, ())
            if mid == self._connect_subscription:
                self.subscribed.set()
            for f, code in zip(filters, bytes(body[2:])):
                if code == 0x80:
                    log.error("MQTT broker %s:%d refused the subscription to %s (check the gateway user's ACL)",
                              self.settings.host, self.settings.port, f)
        elif kind in (0x50, 0x60, 0x70):
            raise _Lost(f"the broker sent QoS 2 packet type {kind >> 4}; the gateway subscribes at QoS 1")
        else:
            raise _Lost(f"unexpected MQTT packet type {kind >> 4} from the broker")

    # -- used from other threads -------------------------------------------------
    def _signal(self) -> None:
        if not self._signalled:
            self._signalled = True
            try:
                self._signal_w.send(b"\0")
            except (BlockingIOError, OSError):
                pass

    def _send(self, packet: bytes | bytearray) -> None:
        self._queue.append(packet)
        self._signal()

    def _mid(self) -> int:
        """A packet id not in flight (called with the lock held)."""
        mid = self._next_mid
        while mid in self._inflight or mid in self._subscribing:
            mid = mid % 65535 + 1
        self._next_mid = mid % 65535 + 1
        return mid

    def _subscribe(self, filters: tuple[str, ...]) -> int | None:
        """Queue a SUBSCRIBE; its packet id."""
        if not filters:
            return None
        with self._lock:
            mid = self._mid()
            self._subscribing[mid] = filters
        self._send(subscribe_packet(filters, mid))
        return mid

    def drain(self, limit: int) -> list[Inbound]:
        paused = len(self.inbox) >= INBOX_LIMIT
        batch = super().drain(limit)
        if paused:
            self._signal()  # the network thread reads again
        return batch

    def ack(self, messages: Sequence[Inbound]) -> None:
        """Acknowledge the QoS 1 messages of a batch: all their PUBACKs in one write."""
        if not self.manual_ack:
            return
        packet = pubacks([m.mid for m in messages if m.qos == 1])
        if packet:
            self._send(packet)

    def _subscribe_more(self, filters: tuple[str, ...]) -> None:
        self._subscribe(filters)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Queue a publish; a QoS 1 one is kept until the broker acknowledges it, and sent again
        (with DUP) after a reconnect."""
        if qos:
            with self._lock:
                mid = self._mid()
                self._inflight[mid] = (topic, payload, retain)
            self._send(publish_packet(topic, payload, 1, retain, mid))
        else:
            self._send(publish_packet(topic, payload, 0, retain, 0))


def open_transport(mqtt: MqttSettings, filters: tuple[str, ...], *, client_id: str,
                   wake: Callable[[], None] | None = None) -> NativeTransport | MqttTransport:
    """The transport `mqtt.client` names; MQTT 5 (`mqtt.protocol` "5" or "auto") is paho's alone."""
    if mqtt.client == "native" and mqtt.protocol == "3.1.1":
        return NativeTransport(mqtt, filters, client_id=client_id, wake=wake)
    return MqttTransport(mqtt, filters, client_id=client_id, wake=wake)
