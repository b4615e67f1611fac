"""`gridtwin demo` itself: the real command in a process of its own (Mosquitto, SQLite, simulator,
gateway and web map), stopped by `--duration` or by Ctrl-C; and the embedded amqtt broker it falls
back to when Mosquitto cannot be found."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

import gridtwin.cli as cli
import gridtwin.localbroker as broker
from twin.grid.demo import demo_grid
from twin.store import open_store

FLEET = ["--sensors", "20", "--cameras", "2", "--interval", "0.5", "--incidents", "2"]
DEVICES = 22 - 3  # three devices of the fleet are left unregistered on purpose (dead letters)


def start_demo(tmp_path: Path, *args: str) -> subprocess.Popen:
    """`gridtwin demo --port 0 --json ARGS` with its temporary files under tmp_path/tmp."""
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTWIN_")}
    env["TMPDIR"] = str(tmp_path / "tmp")
    return subprocess.Popen([sys.executable, "-m", "gridtwin", "demo", "--port", "0", "--json", *FLEET, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def summary_of(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_a_demo_with_a_duration_stops_by_itself_and_sums_up_what_it_stored(tmp_path):
    demo = start_demo(tmp_path, "--duration", "6", "--data-dir", str(tmp_path / "data"))
    out, err = demo.communicate(timeout=240)
    assert demo.returncode == 0, err
    assert "Traceback" not in err and "map at http://127.0.0.1:" in err
    summary = summary_of(out)
    assert summary["seconds"] >= 6
    assert summary["devices"] == DEVICES and summary["cells"] == len(demo_grid())
    assert 0 < summary["devices_reporting"] <= DEVICES
    assert summary["dead_letters_by_reason"].get("unknown_device", 0) == summary["dead_letters"]
    store = open_store(f"sqlite:///{tmp_path}/data/gridtwin.db")
    try:  # the figures are the store's own
        assert summary["readings_stored"] == store.count_readings() > 0
        opened = {a.id for a in store.anomalies(limit=10_000) if a.status == "opened"}
        assert summary["anomalies"] == len(opened)
    finally:
        store.close()
    assert list((tmp_path / "tmp").iterdir()) == []  # the broker's directory is gone


def test_ctrl_c_stops_the_demo_cleanly_with_its_summary(tmp_path):
    demo = start_demo(tmp_path)
    try:
        line = demo.stderr.readline()
        while "map at" not in line:
            assert line, "the demo ended before it started its map"
            line = demo.stderr.readline()
        url = re.search(r"http://\S+/", line).group(0)
        broker_pids = children(demo.pid)
        assert broker_pids  # the Mosquitto it started
        # An anomaly in the map's API: readings went from the simulator through the broker and the
        # gateway into the store, and the detectors judged them.
        with httpx.Client(base_url=url, timeout=10) as web:
            events = []
            for _ in range(600):
                try:
                    events = web.get("/api/events").json()["events"]
                except httpx.ConnectError:
                    pass  # the line is printed as the web server starts, not once it listens
                if events:
                    break
                time.sleep(0.1)
        assert events, "no anomaly in a minute"
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 0, err
    assert "Traceback" not in err
    summary = summary_of(out)
    assert summary["devices"] == DEVICES and summary["readings_stored"] > 0
    assert summary["anomalies"] >= len({e["anomaly_id"] for e in events if e["status"] == "opened"}) >= 1
    assert not [pid for pid in broker_pids if Path(f"/proc/{pid}").exists()]  # Mosquitto stopped
    assert list((tmp_path / "tmp").iterdir()) == []  # the store's and the broker's directories removed


def test_without_mosquitto_the_demo_falls_back_to_amqtt_and_readings_flow(tmp_path, monkeypatch, capsys, caplog):
    """In-process: Mosquitto hidden from PATH and from the sbin directories looked in after it."""
    hidden = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                             if not os.path.exists(os.path.join(d, "mosquitto")))
    monkeypatch.setenv("PATH", hidden)
    monkeypatch.setattr(broker, "SBIN", ())
    assert broker.mosquitto_path() is None
    assert isinstance(broker.local_broker(), broker.AmqttBroker)
    caplog.set_level(logging.WARNING, logger="gridtwin.localbroker")
    status = cli.main(["demo", "--duration", "6", "--port", "0", "--json", *FLEET, "--data-dir", str(tmp_path)])
    out, _ = capsys.readouterr()
    assert status == 0
    assert "using the embedded amqtt broker" in caplog.text
    summary = summary_of(out)
    assert summary["devices"] == DEVICES and 0 < summary["devices_reporting"] <= DEVICES
    store = open_store(f"sqlite:///{tmp_path}/gridtwin.db")
    try:
        assert summary["readings_stored"] == store.count_readings() > 0
    finally:
        store.close()
