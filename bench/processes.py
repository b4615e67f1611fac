"""GridTwin's parts as real processes for the fault runs (bench/faults.py, tests/test_faults.py):
a gateway, a web app and a simulator started through the `gridtwin` command, the fast publisher,
and a census of what the store holds.

    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), broker, store_url)
        gw = GatewayProcess(config, Path(tmp))
        await gw.start()         # returns once it is connected and subscribed
        gw.kill()                # SIGKILL: no clean-up of any kind
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from twin.store.sqlite import sqlite_path

PREFIX = "gridtwin/v1"
DEVICE_PREFIX = "bench-"


def write_config(workdir: Path, broker, store_url: str, *, spool_mb: float = 1024.0, name: str = "gridtwin.toml",
                 **gateway) -> Path:
    """A settings file for every process of a run: the broker, the store, the gateway's spool in `workdir`."""
    lines = [
        "[mqtt]", f'host = "{broker.host}"', f"port = {broker.port}", f'prefix = "{PREFIX}"',
        'client_id = "faults-gateway"', "",
        "[store]", f'url = "{store_url}"', "",
        "[gateway]", 'instance = "gw-faults"', f'spool_dir = "{workdir / "spool"}"', f"spool_max_mb = {spool_mb}",
        *(f"{key} = {json.dumps(value)}" for key, value in gateway.items()),
    ]  # fmt: skip
    path = workdir / name
    path.write_text("\n".join(lines) + "\n")
    return path


class _Process:
    """A `python -m gridtwin ...` child whose output goes to files in `workdir`, numbered per start."""

    name = "process"

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def _spawn(self, *args: str) -> None:
        self.starts += 1
        self.out = self.workdir / f"{self.name}-{self.starts}.out"
        self.err = self.workdir / f"{self.name}-{self.starts}.err"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gridtwin", "--log-level", "WARNING", *args,
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=self.workdir, env=env)

    async def _wait_for_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.out.read_text(errors="replace"):
            if self.proc.returncode is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not print {text!r} within {timeout:.0f} s: {self.log()[-2000:]}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; killed if it takes longer than `timeout`."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()

    def log(self) -> str:
        """Everything the process wrote to stderr, over all its starts."""
        return "".join((self.workdir / f"{self.name}-{i}.err").read_text(errors="replace")
                       for i in range(1, self.starts + 1))


class GatewayProcess(_Process):
    """`gridtwin gateway --config FILE`."""

    name = "gateway"

    def __init__(self, config: Path, workdir: Path):
        super().__init__(workdir)
        self.config = config

    async def start(self, timeout: float = 60.0) -> None:
        await self._spawn("gateway", "--config", str(self.config))
        await self._wait_for_output("connected to", timeout)
        # The subscription goes out with the connection; give the broker a moment to grant it
        # before anything relies on it (a first start has no session holding messages yet).
        await asyncio.sleep(1.0)


class WebProcess(_Process):
    """`gridtwin serve --config FILE --port PORT`; `health()` is its /healthz."""

    name = "web"

    def __init__(self, config: Path, workdir: Path, port: int):
        super().__init__(workdir)
        self.config = config
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    async def start(self, timeout: float = 60.0) -> None:
        await self._spawn("serve", "--config", str(self.config), "--port", str(self.port))
        await self._wait_for_output("GridTwin map at", timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.health()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def health(self) -> dict:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            return (await http.get("/healthz")).json()

    async def feed_messages(self) -> int:
        """MQTT messages the web app's live feed received so far (its /metrics)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            text = (await http.get("/metrics")).text
        return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("gridtwin_web_mqtt_messages_total")))


class SimProcess(_Process):
    """`gridtwin sim --config FILE --interval S --duration S --json`: the registered devices publish."""

    name = "sim"

    def __init__(self, config: Path, workdir: Path):
        super().__init__(workdir)
        self.config = config

    async def start(self, interval: float, duration: float) -> None:
        await self._spawn("sim", "--config", str(self.config), "--interval", str(interval),
                          "--duration", str(duration), "--json")

    async def result(self, timeout: float) -> dict:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if code != 0:
            raise RuntimeError(f"sim exited with {code}: {self.log()[-2000:]}")
        return json.loads(self.out.read_text().strip().splitlines()[-1])


class StreamWatch:
    """A client of the web app's live stream (/api/stream), as an open map page is: notes when each
    `cell` and `anomaly` event arrived."""

    def __init__(self, url: str):
        self.url = url
        self.cells: list[float] = []
        self.anomalies: list[float] = []
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "StreamWatch":
        connected = asyncio.Event()
        self.task = asyncio.create_task(self._read(connected))
        await asyncio.wait_for(connected.wait(), 30)
        return self

    async def _read(self, connected: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=httpx.Timeout(10, read=None)) as http:
            async with http.stream("GET", "/api/stream") as response:
                connected.set()
                async for line in response.aiter_lines():
                    if line == "event: cell":
                        self.cells.append(time.monotonic())
                    elif line == "event: anomaly":
                        self.anomalies.append(time.monotonic())

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def between(self, start: float, end: float) -> dict:
        return {"cells": len([t for t in self.cells if start <= t <= end]),
                "anomalies": len([t for t in self.anomalies if start <= t <= end])}


async def start_publisher(broker, messages: int, devices: int, rate: float,
                          trigger_every: int = 0) -> asyncio.subprocess.Process:
    """The fast QoS 1 publisher (bench/publisher.py) on the default topic tree; device i%devices,
    seq i//devices, so what was sent is known exactly."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.publisher", "--host", broker.host, "--port", str(broker.port),
        "--messages", str(messages), "--devices", str(devices), "--rate", str(rate), "--prefix", PREFIX,
        "--trigger-every", str(trigger_every), stdout=asyncio.subprocess.PIPE)


# -- what the store holds ---------------------------------------------------------------
def census(store_url: str, metrics: int = 2) -> dict:
    """Readings of the bench devices in the store: `readings` distinct (device, seq) stored,
    `rows`, `stored_twice` (rows beyond one per device, seq and metric), `incomplete` (a reading
    with fewer than `metrics` rows) and `order_violations`: consecutive readings of one device
    (by seq) whose rows were written the other way round (SQLite rowid; PostgreSQL the writing
    transaction, xmin)."""
    sqlite = store_url.startswith("sqlite:")
    order = "rowid" if sqlite else "xmin::text::bigint"
    like = f"'{DEVICE_PREFIX}%'"
    queries = {
        "rows": f"SELECT count(*) FROM readings WHERE device_id LIKE {like}",
        "keys": f"SELECT count(*) FROM (SELECT DISTINCT device_id, seq, metric FROM readings WHERE device_id LIKE {like}) k",
        "readings": f"SELECT count(*) FROM (SELECT DISTINCT device_id, seq FROM readings WHERE device_id LIKE {like}) k",
        "incomplete": f"SELECT count(*) FROM (SELECT device_id, seq FROM readings WHERE device_id LIKE {like} "
                      f"GROUP BY device_id, seq HAVING count(DISTINCT metric) < {metrics}) k",
        "order_violations": f"""SELECT count(*) FROM (
            SELECT w, lag(w) OVER (PARTITION BY device_id ORDER BY seq) AS prev
            FROM (SELECT device_id, seq, min({order}) AS w FROM readings WHERE device_id LIKE {like}
                  GROUP BY device_id, seq) r) o WHERE prev > w""",
        "dead_letters": "SELECT count(*) FROM dead_letters",
    }
    if sqlite:
        conn = sqlite3.connect(f"file:{sqlite_path(store_url)}?mode=ro", uri=True, timeout=30)
        try:
            got = {k: conn.execute(q).fetchone()[0] for k, q in queries.items()}
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(store_url, connect_timeout=10) as conn:
            got = {k: conn.execute(q).fetchone()[0] for k, q in queries.items()}
    return {"readings": got["readings"], "rows": got["rows"], "stored_twice": got["rows"] - got["keys"],
            "incomplete": got["incomplete"], "order_violations": got["order_violations"],
            "dead_letters": got["dead_letters"]}


async def wait_stored(store_url: str, expected: int, timeout: float, settle: float = 3.0) -> dict:
    """Poll the census until `expected` readings are stored and nothing changed for `settle` seconds
    (a reading stored twice would show up then), or `timeout` passes; return the last census."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        try:
            now = await asyncio.to_thread(census, store_url)
        except Exception:  # the store may still be coming back
            now = None
        if now != last:
            last, since = now, time.monotonic()
        if last is not None and last["readings"] >= expected and time.monotonic() - since >= settle:
            return last
        if time.monotonic() > deadline:
            if last is None:
                raise TimeoutError(f"the store at {store_url} did not answer within {timeout:.0f} s")
            return last
        await asyncio.sleep(0.5)
