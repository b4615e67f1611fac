"""MQTT 3.1.1 packets (mqttwire/packets.py): framing checked on byte streams cut at every point,
and the packets built for the broker."""

from __future__ import annotations

import collections

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqttwire.packets import Inbound, MalformedPacket, PacketReader, pubacks, publish_packet

# -- framing ------------------------------------------------------------------

STREAM = [  # (topic, payload, qos, retain, mid)
    ("gridtwin/v1/readings/aq-1", b'{"values": {"pm25": 1}}', 1, False, 1),
    ("gridtwin/v1/status/aq-1", b"online", 0, True, 0),
    ("gridtwin/v1/readings/aq-2", b"x" * 300, 1, False, 65535),  # a two-byte remaining length
    ("gridtwin/v1/readings/aq-3", b"", 1, False, 7),  # an empty payload
    ("gridtwin/v1/readings/aq-4", b"y" * 20000, 1, True, 8),  # a three-byte remaining length
]
CONTROL = b"\xd0\x00" + b"\x40\x02\x00\x05" + b"\x90\x03\x00\x09\x01"  # PINGRESP, PUBACK 5, SUBACK 9


def stream_bytes() -> bytes:
    packets = [publish_packet(t, p, q, r, m) for t, p, q, r, m in STREAM]
    return packets[0] + CONTROL + b"".join(packets[1:])


def read_in_pieces(data: bytes, cuts: list[int]) -> tuple[list[Inbound], list[int]]:
    controls: list[int] = []
    reader = PacketReader(lambda first, body: controls.append(first))
    out: collections.deque = collections.deque()
    last = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        reader.feed(data[last:cut], out, 1.0)
        last = cut
    assert not reader.buffer  # nothing left over once the stream is complete
    return list(out), controls


def test_many_packets_in_one_read_are_all_parsed():
    messages, controls = read_in_pieces(stream_bytes(), [])
    assert [(m.topic, m.payload, m.qos, m.retain, m.mid) for m in messages] == STREAM
    assert controls == [0xD0, 0x40, 0x90]


def test_a_packet_larger_than_a_read_is_assembled():
    data = publish_packet("gridtwin/v1/readings/big", b"z" * 600_000, 1, False, 3)
    messages, _ = read_in_pieces(data, list(range(0, len(data), 65536)))
    assert [(m.topic, len(m.payload), m.mid) for m in messages] == [("gridtwin/v1/readings/big", 600_000, 3)]


def test_every_single_cut_point_gives_the_same_messages():
    data = stream_bytes()
    for cut in range(1, len(data) - 1, 97 if len(data) > 5000 else 1):
        messages, _ = read_in_pieces(data, [cut])
        assert [(m.topic, m.payload, m.mid) for m in messages] == [(t, p, m) for t, p, _, _, m in STREAM], cut
    head = stream_bytes()[:400]  # the first packets byte by byte, remaining lengths included
    messages, _ = read_in_pieces(head + stream_bytes()[400:], list(range(1, 400)))
    assert len(messages) == len(STREAM)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(stream_bytes()) - 1), max_size=12))
def test_any_cuts_give_the_same_messages(cuts):
    messages, controls = read_in_pieces(stream_bytes(), cuts)
    assert [(m.topic, m.payload, m.qos, m.retain, m.mid) for m in messages] == STREAM
    assert controls == [0xD0, 0x40, 0x90]


def test_a_topic_that_is_not_utf8_is_kept_for_its_dead_letter():
    body = b"\x00\x05ab\xffcd" + b"\x00\x01" + b"{}"
    messages, _ = read_in_pieces(b"\x32" + bytes([len(body)]) + body, [])
    assert messages[0].topic == "ab\ufffdcd" and messages[0].payload == b"{}"


def test_a_remaining_length_over_four_bytes_is_a_protocol_error():
    reader = PacketReader(lambda *a: None)
    with pytest.raises(MalformedPacket, match="longer than 4 bytes"):
        reader.feed(b"\x30\xff\xff\xff\xff\x01", collections.deque(), 1.0)


def test_the_pubacks_of_a_batch_are_one_byte_string():
    assert pubacks([5, 65535]) == b"\x40\x02\x00\x05" + b"\x40\x02\xff\xff"
    assert pubacks([]) == b""
