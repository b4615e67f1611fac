"""MQTT 3.1.1 packets as the gateway's own client (gateway/wire.py) reads them (it builds the
ones it sends with mqttwire/packets.py).

`PacketReader` frames whatever a read returned (part of a packet, many packets, a piece of one larger than a
read) and turns every complete PUBLISH into an `Inbound` in one tight loop.
"""

from __future__ import annotations

import collections
import struct
from collections.abc import Callable

from gateway.messages import Inbound

PUBACK = struct.Struct("!BBH")

CONNACK_CODES = {
    1: "unacceptable protocol version (the broker does not speak MQTT 3.1.1)",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password (check mqtt.username and mqtt.password)",
    5: "not authorized",
}


class MalformedPacket(ConnectionError):
    """The broker sent something this client cannot read; the connection is dropped and opened again."""


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
