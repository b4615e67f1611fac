"""Shared pieces of the benchmarks: a demo twin with registered bench devices, the publisher
process, and figures (medians over runs)."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
from pathlib import Path

from twin.config import Settings
from twin.devices.device import Device, DeviceKind
from twin.grid.demo import demo_grid
from twin.store import open_store


def bench_twin(directory: Path | None, devices: int, url: str | None = None):
    """A store (SQLite in `directory`, or at `url`) holding the demo grid and `devices` fixed sensors
    named bench-00000..."""
    grid = demo_grid()
    store = open_store(url or f"sqlite:///{directory}/bench.db")
    store.migrate()
    store.put_grid(grid)
    cells = grid.cells
    fleet = []
    for i in range(devices):
        cell = cells[i % len(cells)]
        point = cell.geometry.representative_point()
        fleet.append(Device(id=f"bench-{i:05d}", kind=DeviceKind.SENSOR, lat=point.y, lon=point.x,
                            metrics=("pm25", "noise_db"), cell_code=cell.code))
    store.put_devices(fleet)
    return store, grid


def settings_for(broker, store_url: str, protocol: str = Settings().mqtt.protocol, **gateway) -> Settings:
    return Settings().replace(mqtt={"host": broker.host, "port": broker.port, "protocol": protocol},
                              store={"url": store_url}, gateway=gateway or {})


async def start_publisher(broker, messages: int, devices: int, rate: float = 0.0,
                          trigger_every: int = 0) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.publisher", "--host", broker.host, "--port", str(broker.port),
        "--messages", str(messages), "--devices", str(devices), "--rate", str(rate),
        "--trigger-every", str(trigger_every),
        stdout=asyncio.subprocess.PIPE,
    )


async def publisher_result(proc: asyncio.subprocess.Process) -> dict:
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"publisher failed with code {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1])


def median(values):
    return statistics.median(values) if values else None


def emit(result: dict, json_mode: bool, lines: list[str]) -> None:
    """Human lines, or exactly one JSON object on the last line."""
    if json_mode:
        print(json.dumps(result, sort_keys=True))
    else:
        print("\n".join(lines))
