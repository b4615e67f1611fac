"""MQTT 3.1.1 on a bare socket, fast enough to load a gateway: a QoS 1 publisher of pre-encoded
packets (any topic, any payload) and a QoS 1 subscriber that keeps every message it receives."""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import time
from pathlib import Path

from mqttwire.packets import connect_packet, publish_packet, subscribe_packet


async def _connect(host: str, port: int, client_id: str):
    reader, writer = await asyncio.open_connection(host, port, limit=4 * 1024 * 1024)
    writer.write(connect_packet(client_id, 0))  # keep-alive 0: no pings
    await writer.drain()
    connack = await reader.readexactly(4)
    if connack[3] != 0:
        raise RuntimeError(f"broker refused {client_id}: CONNACK code {connack[3]}")
    return reader, writer


async def publish_all(host: str, port: int, messages: list[tuple[str, bytes]], client_id: str,
                      window: int = 5000, rate: float = 0.0) -> dict:
    """Publish (topic, payload) pairs at QoS 1 in order, as fast as the broker acknowledges them or at
    `rate` messages a second."""
    reader, writer = await _connect(host, port, client_id)
    acked = 0

    async def count_acks() -> None:
        nonlocal acked
        pending = b""
        while acked < len(messages):
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError(f"the broker closed {client_id} after {acked} acknowledgements")
            pending += chunk
            acked += len(pending) // 4  # the broker sends this client nothing but 4-byte PUBACKs
            pending = pending[len(pending) // 4 * 4:]

    acks = asyncio.create_task(count_acks())
    start = time.perf_counter()
    try:
        for i, (topic, payload) in enumerate(messages):
            writer.write(publish_packet(topic, payload, 1, packet_id=i % 65535 + 1))
            if rate and i % 16 == 15:
                await writer.drain()
                ahead = (i + 1) / rate - (time.perf_counter() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if i % 64 == 63 or len(payload) > 65536:
                await writer.drain()
                while i - acked > window and not acks.done():
                    await asyncio.sleep(0.001)
                if acks.done():
                    acks.result()
        await writer.drain()
        await asyncio.wait_for(acks, timeout=600)
    finally:
        acks.cancel()
        writer.write(b"\xe0\x00")
        writer.close()
    return {"published": len(messages), "acked": acked, "seconds": time.perf_counter() - start}


class Subscriber:
    """A QoS 1 subscription whose messages (topic, payload) are kept in `messages`.

        async with Subscriber(host, port, "prefix/deadletter/#", "client") as sub: ...
    """

    def __init__(self, host: str, port: int, topic_filter: str, client_id: str):
        self.host, self.port, self.filter, self.client_id = host, port, topic_filter, client_id
        self.messages: list[tuple[str, bytes]] = []
        self._subscribed = asyncio.Event()

    async def __aenter__(self) -> "Subscriber":
        self._reader, self._writer = await _connect(self.host, self.port, self.client_id)
        self._writer.write(subscribe_packet((self.filter,), 1))
        await self._writer.drain()
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self._subscribed.wait(), 10)
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, ConnectionError):
            pass
        self._writer.write(b"\xe0\x00")
        self._writer.close()

    async def _read(self) -> None:
        reader, writer = self._reader, self._writer
        while True:
            head = (await reader.readexactly(1))[0]
            length, shift = 0, 0
            while True:
                byte = (await reader.readexactly(1))[0]
                length += (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            body = await reader.readexactly(length)
            kind = head >> 4
            if kind == 9:  # SUBACK
                self._subscribed.set()
            elif kind == 3:  # PUBLISH
                qos = (head >> 1) & 3
                size = struct.unpack_from("!H", body)[0]
                topic = body[2:2 + size].decode("utf-8", "replace")
                offset = 2 + size
                if qos:
                    mid = body[offset:offset + 2]
                    offset += 2
                    writer.write(b"\x40\x02" + mid)
                self.messages.append((topic, body[offset:]))


def dump_messages(path: Path, messages: list[tuple[str, bytes]]) -> None:
    """(topic, payload) pairs to a file for a publisher process: lengths, topic, payload, one after another."""
    with open(path, "wb") as f:
        for topic, payload in messages:
            data = topic.encode()
            f.write(struct.pack("!II", len(data), len(payload)) + data + payload)


def load_messages(path: Path) -> list[tuple[str, bytes]]:
    data, out, i = Path(path).read_bytes(), [], 0
    while i < len(data):
        t, p = struct.unpack_from("!II", data, i)
        i += 8
        out.append((data[i:i + t].decode(), data[i + t:i + t + p]))
        i += t + p
    return out


def main() -> None:
    """`python -m bench.hostile.wire --port P --file F [--rate R]`: publish a dumped corpus; prints one JSON object."""
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--rate", type=float, default=0.0, help="messages per second; 0 = as fast as possible")
    args = p.parse_args()
    messages = load_messages(Path(args.file))
    result = asyncio.run(publish_all(args.host, args.port, messages, f"hostile-pub-{time.time_ns() % 10**9}",
                                     rate=args.rate))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
