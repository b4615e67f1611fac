"""`gridtwin serve` as a user runs it: a process that serves the demo grid and stops on a signal."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx

from gridtwin.ports import free_port, wait_for_port


def test_serve_runs_the_app_and_stops_on_sigint(tmp_path, mosquitto):
    config = tmp_path / "gridtwin.toml"
    config.write_text(f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\nprefix = "serve-test/v1"\n'
                      '[web]\ntitle = "Serve test"\n')
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridtwin", "serve", "--config", str(config), "--port", str(port),
         "--store", f"sqlite:///{tmp_path}/serve.db"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30, proc=proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            cells = http.get("/api/cells?geometry=false").json()["features"]
            assert len(cells) > 300  # the demo grid, stored on first open
            deadline = time.monotonic() + 10
            while not http.get("/healthz").json()["mqtt"]["connected"]:
                assert time.monotonic() < deadline, "the live feed did not connect to the broker"
                time.sleep(0.1)
            assert "<title>Serve test</title>" in http.get("/").text
            with http.stream("GET", "/api/stream") as stream:  # an open map page must not hold up the stop
                next(stream.iter_lines())
                started = time.monotonic()
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=15)
        assert time.monotonic() - started < 5
        assert proc.returncode == 130, err  # uvicorn re-raises the signal; the CLI reports it as 130
        assert f"GridTwin map at http://127.0.0.1:{port}/" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_refuses_a_bad_store_url(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gridtwin", "serve", "--port", "0", "--store", "mysql://nowhere/db"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "store URL 'mysql://nowhere/db' is not supported" in result.stderr
