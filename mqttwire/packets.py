"""MQTT 3.1.1 packets as GridTwin's own clients write and read them: the simulated devices
(firmware_sim/mqtt.py), the gateway (gateway/wire.py) and the load generators under bench/.

    connect_packet("dev-aq-0001", 60, will=Will("gridtwin/v1/status/aq-0001", b"offline"))
    publish_packet("gridtwin/v1/readings/aq-0001", b"{...}", qos=1, packet_id=7)

`PacketReader` frames whatever a read returned (part of a packet, many packets, a piece of one
larger than a read) and turns every complete PUBLISH into an `Inbound` in one tight loop; every
other packet goes to a callback.
"""

from __future__ import annotations

import collections
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

__all__ = ["Will", "Inbound", "PacketReader", "MalformedPacket", "connect_packet", "publish_packet",
           "subscribe_packet", "pubacks", "remaining_length", "string", "CONNACK_CODES"]

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE = 0x10, 0x20, 0x30, 0x40, 0x82
PINGREQ, PINGRESP, DISCONNECT = 0xC0, 0xD0, 0xE0
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
DUP = 0x08  # the PUBLISH flag of a message sent again
_PUBACK = struct.Struct("!BBH")

CONNACK_CODES = {
    1: "unacceptable protocol version (the broker does not speak MQTT 3.1.1)",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password (check mqtt.username and mqtt.password)",
    5: "not authorized",
}


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for the client when its connection dies without DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def remaining_length(n: int) -> bytes:
    """The variable-length "remaining length" of a fixed header."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def string(value: str | bytes) -> bytes:
    """A length-prefixed UTF-8 string (or bytes)."""
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, keepalive: int, *, clean_session: bool = True, will: Will | None = None,
                   username: str | None = None, password: str | None = None) -> bytes:
    flags = 0x02 if clean_session else 0
    payload = string(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += string(will.topic) + string(will.payload)
    if username is not None:
        flags |= 0x80
        payload += string(username)
        if password is not None:
            flags |= 0x40
            payload += string(password)
    body = string("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive) + payload
    return bytes((CONNECT,)) + remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, qos: int = 0, retain: bool = False, packet_id: int = 0,
                   dup: bool = False) -> bytearray:
    """A PUBLISH; a bytearray, so that a client can set DUP on it in place before sending it again."""
    first = PUBLISH | (qos << 1) | (1 if retain else 0) | (DUP if dup else 0)
    body = string(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return bytearray((first,)) + remaining_length(len(body)) + body


def subscribe_packet(filters: tuple[str, ...], packet_id: int, qos: int = 1) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(string(f) + bytes((qos,)) for f in filters)
    return bytes((SUBSCRIBE,)) + remaining_length(len(body)) + body


def pubacks(packet_ids: Iterable[int]) -> bytes:
    """The PUBACKs of these QoS 1 messages as one byte string: a whole batch in one write."""
    pack = _PUBACK.pack
    return b"".join([pack(PUBACK, 2, packet_id) for packet_id in packet_ids])


# -- reading ---------------------------------------------------------------------------------
class MalformedPacket(ConnectionError):
    """The broker sent something this client cannot read; the connection is dropped and opened again."""


# A msgspec Struct, not a dataclass: one is made per message, and a frozen dataclass's __init__
# (one object.__setattr__ per field) is twenty times slower.
class Inbound(msgspec.Struct, frozen=True, gc=False):
    """One MQTT message as received: the topic, raw payload, receive time and broker message id."""

    topic: str
    payload: bytes
    received_at: float
    mid: int = 0
    qos: int = 0
    retain: bool = False


class PacketReader:
    """Frames a byte stream into MQTT packets; PUBLISH packets become `Inbound` messages.

    `feed` takes whatever one read returned (part of a packet, many packets, or
    a piece of a packet larger than a read) and keeps the incomplete tail; every
    packet other than PUBLISH goes to `on_control(first byte, body)`, its body a
    view valid during the call only.
    """

    def __init__(self, on_control: Callable[[int, memoryview], None]):
        self.buffer = bytearray()
        self._on_control = on_control
        self._topics: dict[bytes, str] = {}  # devices repeat their topics: decode each once

    def feed(self, data: bytes, out: collections.deque, received_at: float) -> int:
        """Parse every complete packet; append the PUBLISHes to `out`; return how many."""
        buf = self.buffer
        if buf:
            buf += data
        else:
            buf = bytearray(data)
        n, pos, count = len(buf), 0, 0
        topics, append = self._topics, out.append
        view = memoryview(buf)  # payloads copied once, not sliced and then copied
        try:
            while n - pos >= 2:
                first = buf[pos]
                length, p = buf[pos + 1], pos + 2
                if length & 0x80:
                    length &= 0x7F
                    shift, complete = 7, False
                    while p < n:
                        byte = buf[p]
                        p += 1
                        length |= (byte & 0x7F) << shift
                        if not byte & 0x80:
                            complete = True
                            break
                        shift += 7
                        if shift > 21:
                            raise MalformedPacket("the broker sent a remaining length longer than 4 bytes")
                    if not complete:
                        break  # the length itself is not all here yet
                end = p + length
                if end > n:
                    break
                if first & 0xF0 == 0x30:
                    tlen = (buf[p] << 8) | buf[p + 1]
                    raw = bytes(buf[p + 2:p + 2 + tlen])
                    topic = topics.get(raw)
                    if topic is None:
                        topic = raw.decode("utf-8", errors="replace")  # an invalid topic is kept for its dead letter
                        if len(topics) > 200_000:
                            topics.clear()
                        topics[raw] = topic
                    q = p + 2 + tlen
                    qos = (first >> 1) & 3
                    if qos:
                        mid = (buf[q] << 8) | buf[q + 1]
                        q += 2
                    else:
                        mid = 0
                    append(Inbound(topic, bytes(view[q:end]), received_at, mid, qos, bool(first & 1)))
                    count += 1
                else:
                    self._on_control(first, view[p:end])
                pos = end
        finally:
            view.release()  # before the buffer is resized
        if pos == n:
            self.buffer = bytearray()
        else:
            del buf[:pos]
            self.buffer = buf
        return count
