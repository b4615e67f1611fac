"""MQTT 3.1.1 packets as the gateway's own client (gateway/wire.py) writes and reads them.

Builders for the packets it sends, and `PacketReader`, which frames whatever a
read returned (part of a packet, many packets, a piece of one larger than a
read) and turns every complete PUBLISH into an `Inbound` in one tight loop.
"""

from __future__ import annotations

import collections
import struct
from typing import Callable

from gateway.messages import Inbound

PUBACK = struct.Struct("!BBH")
PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"

CONNACK_CODES = {
    1: "unacceptable protocol version (the broker does not speak MQTT 3.1.1)",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password (check mqtt.username and mqtt.password)",
    5: "not authorized",
}


class MalformedPacket(ConnectionError):
    """The broker sent something this client cannot read; the connection is dropped and opened again."""


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id: str, keepalive: int, username: str | None, password: str | None) -> bytes:
    """CONNECT with clean session off: the broker keeps subscriptions and unacked messages."""
    flags, payload = 0, _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    body = _string("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive) + payload
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, qos: int, retain: bool, mid: int, dup: bool = False) -> bytes:
    first = 0x30 | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    body = _string(topic) + (struct.pack("!H", mid) if qos else b"") + payload
    return bytes((first,)) + _remaining_length(len(body)) + body


def subscribe_packet(filters: tuple[str, ...], mid: int) -> bytes:
    body = struct.pack("!H", mid) + b"".join(_string(f) + b"\x01" for f in filters)
    return b"\x82" + _remaining_length(len(body)) + body


class PacketReader:
    """Frames a byte stream into MQTT packets; PUBLISH packets become `Inbound` messages.

    `feed` takes whatever one read returned (part of a packet, many packets, or
    a piece of a packet larger than a read) and keeps the incomplete tail.
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
                append(Inbound(topic, bytes(buf[q:end]), received_at, mid, qos, bool(first & 1)))
                count += 1
            else:
                self._on_control(first, memoryview(buf)[p:end])
            pos = end
        if pos == n:
            self.buffer = bytearray()
        else:
            del buf[:pos]
            self.buffer = buf
        return count
