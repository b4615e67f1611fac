"""MQTT 3.1.1 packets as GridTwin's own clients write them: the simulated devices
(firmware_sim/mqtt.py), the gateway (gateway/wire.py) and the load generators under bench/.

    connect_packet("dev-aq-0001", 60, will=Will("gridtwin/v1/status/aq-0001", b"offline"))
    publish_packet("gridtwin/v1/readings/aq-0001", b"{...}", qos=1, packet_id=7)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["Will", "connect_packet", "publish_packet", "subscribe_packet", "remaining_length", "string"]

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE = 0x10, 0x20, 0x30, 0x40, 0x82
PINGREQ, PINGRESP, DISCONNECT = 0xC0, 0xD0, 0xE0
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
DUP = 0x08  # the PUBLISH flag of a message sent again


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
