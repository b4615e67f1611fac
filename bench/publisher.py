"""A fast MQTT 3.1.1 QoS 1 publisher for benchmarks: pre-encoded PUBLISH packets, pipelined,
with PUBACKs counted by a reader task. Runs as its own process:

    python -m bench.publisher --host H --port P --messages M --devices D [--rate R]

It prints one JSON object: published, acked, seconds. A paho client tops out
near 4,000 QoS 1 messages/s here, too slow to load a gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from mqttwire.packets import connect_packet, publish_packet


def reading_payload(seq: int, ts: float, trigger: bool = False) -> bytes:
    """A two-metric reading; with `trigger`, PM2.5 alternates 10 / 200 so that every reading
    opens or clears an anomaly (used to time detection)."""
    pm25 = (200.0 if seq % 2 else 10.0) if trigger else 20.0 + seq % 40
    return json.dumps(
        {"ts": ts, "seq": seq, "values": {"pm25": pm25, "noise_db": 50.0 + seq % 10}, "battery": 0.9},
        separators=(",", ":"),
    ).encode()


async def publish(host: str, port: int, messages: int, devices: int, prefix: str = "gridtwin/v1",
                  rate: float = 0.0, window: int = 20000, client_id: str = "bench-publisher",
                  trigger_every: int = 0) -> dict:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(connect_packet(client_id, 60))
    await writer.drain()
    connack = await reader.readexactly(4)
    if connack[3] != 0:
        raise RuntimeError(f"broker refused the publisher: CONNACK code {connack[3]}")
    acked = 0

    async def count_acks() -> None:
        nonlocal acked
        while acked < messages:
            await reader.readexactly(4)  # PUBACK: 0x40 0x02 mid
            acked += 1

    acks = asyncio.create_task(count_acks())
    start = time.perf_counter()
    now = time.time()
    for i in range(messages):
        device = i % devices
        seq = i // devices
        trigger = bool(trigger_every) and device % trigger_every == 0
        # Paced runs stamp the send time (latency is measured from it); full-speed runs
        # stamp distinct times per device so that no two readings share an identity.
        ts = time.time() if rate else now + seq * 1e-3
        packet = publish_packet(f"{prefix}/readings/bench-{device:05d}", reading_payload(seq, ts, trigger), 1,
                                packet_id=i % 65535 + 1)
        writer.write(packet)
        if rate:
            if i % 16 == 15:
                await writer.drain()
                ahead = (i + 1) / rate - (time.perf_counter() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        elif i % 256 == 255:
            await writer.drain()
            while i - acked > window:
                await asyncio.sleep(0.001)
    await writer.drain()
    await asyncio.wait_for(acks, timeout=300)
    seconds = time.perf_counter() - start
    writer.write(b"\xe0\x00")
    writer.close()
    return {"published": messages, "acked": acked, "seconds": seconds}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--rate", type=float, default=0.0, help="messages per second; 0 = as fast as possible")
    p.add_argument("--prefix", default="gridtwin/v1")
    p.add_argument("--trigger-every", type=int, default=0, help="every K-th device alternates over the PM2.5 threshold")
    args = p.parse_args()
    result = asyncio.run(publish(args.host, args.port, args.messages, args.devices, args.prefix, args.rate,
                                 trigger_every=args.trigger_every))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
