"""Secrets never reach the logs: the CLI, the web app and the gateway run as real processes with
logging at DEBUG against PostgreSQL (a password in the store URL) and Mosquitto (an MQTT password),
and nothing they print holds a user's password, a session id or CSRF token, a bearer token, a
device's MQTT password, a claim code, the store URL's password, the MQTT password or auth.secret.
The one exception is a command whose job is to hand a new secret out: it prints that one, once,
on stdout, and never in its log."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from gridtwin.ports import free_port
from tests.maps.common import SIZE, S, W

USER_PW = f"userpw-{uuid.uuid4().hex[:12]}"
DSN_PW = f"dsnpw-{uuid.uuid4().hex[:12]}"
MQTT_PW = f"mqttpw-{uuid.uuid4().hex[:12]}"
WEB_MQTT_PW = f"webmqttpw-{uuid.uuid4().hex[:12]}"
AUTH_SECRET = f"authsecret-{uuid.uuid4().hex[:16]}"


class Outputs:
    """Every process's stdout and stderr, by a label."""

    def __init__(self):
        self.seen: dict[str, tuple[str, str]] = {}

    def add(self, label: str, stdout: str, stderr: str) -> None:
        self.seen[label] = (stdout, stderr)

    def leaks(self, secret: str, allowed_stdout: str | None = None) -> list[str]:
        found = []
        for label, (stdout, stderr) in self.seen.items():
            if secret in stderr:
                found.append(f"{label} stderr")
            if secret in stdout and label != allowed_stdout:
                found.append(f"{label} stdout")
        return found


def gridtwin_env(store_url: str, mosquitto, prefix: str) -> dict[str, str]:
    return {**os.environ, "GRIDTWIN_STORE_URL": store_url, "GRIDTWIN_MQTT_HOST": mosquitto.host,
            "GRIDTWIN_MQTT_PORT": str(mosquitto.port), "GRIDTWIN_MQTT_PREFIX": prefix,
            "GRIDTWIN_MQTT_USERNAME": "gateway", "GRIDTWIN_MQTT_PASSWORD": MQTT_PW,
            "GRIDTWIN_WEB_MQTT_USERNAME": "webapp", "GRIDTWIN_WEB_MQTT_PASSWORD": WEB_MQTT_PW,
            "GRIDTWIN_AUTH_SECRET": AUTH_SECRET, "PYTHONUNBUFFERED": "1"}


def run(outputs: Outputs, label: str, env: dict, *args: str, stdin: str = "", ok: bool = True) -> str:
    done = subprocess.run([sys.executable, "-m", "gridtwin", "--log-level", "DEBUG", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120)
    outputs.add(label, done.stdout, done.stderr)
    assert (done.returncode == 0) == ok, f"{label}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def start(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gridtwin", "--log-level", "DEBUG", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(outputs: Outputs, label: str, process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        stdout, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    outputs.add(label, stdout, stderr)


def test_no_secret_reaches_a_log(postgres_server, migrated_postgres_url, mosquitto, tmp_path):
    store_url = migrated_postgres_url.replace("postgresql://postgres@", f"postgresql://postgres:{DSN_PW}@")
    assert DSN_PW in store_url  # the cluster trusts local connections, so any password gets in
    env = gridtwin_env(store_url, mosquitto, f"t{uuid.uuid4().hex[:8]}/v1")
    outputs = Outputs()
    lat, lon = S + SIZE / 2, W + SIZE / 2

    run(outputs, "db migrate", env, "db", "migrate")
    closed = f"postgresql://postgres:{DSN_PW}@127.0.0.1:{free_port()}/nothing"
    run(outputs, "db migrate (refused)", env, "db", "migrate", "--store", closed, ok=False)
    run(outputs, "users add", env, "users", "add", "dana", "--role", "dispatcher", "--password-stdin",
        stdin=USER_PW + "\n")
    run(outputs, "users add tech", env, "users", "add", "tom", "--role", "technician", "--no-password")
    token = json.loads(run(outputs, "users token", env, "users", "token", "tom", "--json").splitlines()[-1])["token"]
    run(outputs, "users list", env, "users", "list")
    run(outputs, "devices add", env, "devices", "add", "aq-s1", "--kind", "sensor", "--lat", str(lat), "--lon",
        str(lon), "--metrics", "pm25")
    bundle = json.loads(run(outputs, "devices credentials", env, "devices", "credentials", "aq-s1", "--json")
                        .splitlines()[-1])
    device_pw = next(v for k, v in _walk(bundle) if k == "password")
    claim = json.loads(run(outputs, "devices claim-code", env, "devices", "claim-code", "aq-s1", "--json")
                       .splitlines()[-1])["claim_code"]
    run(outputs, "broker config", env, "broker", "config", "--out", str(tmp_path / "broker"))

    port = free_port()
    web = start(env, "serve", "--port", str(port))
    gateway = start(env, "gateway")
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            assert web.poll() is None and time.monotonic() < deadline, "gridtwin serve did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.post("/api/login", json={"name": "dana", "password": "wrong-" + USER_PW}).status_code == 401
            login = http.post("/api/login", json={"name": "dana", "password": USER_PW})
            assert login.status_code == 200, login.text
            session = http.cookies["gridtwin_session"]
            csrf = login.json()["csrf_token"]
            report = http.post("/api/cases", json={"type": "litter", "lat": lat, "lon": lon},
                               headers={"X-CSRF-Token": csrf})
            assert report.status_code == 201, report.text
            assert http.post("/api/cases", json={"type": "litter", "lat": lat, "lon": lon}).status_code == 403
            assert http.get("/api/devices/aq-s1", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            assert http.get("/api/me", headers={"Authorization": "Bearer gtt_" + USER_PW}).status_code == 401
            assert http.post("/api/logout", json={}, headers={"X-CSRF-Token": csrf}).json() == {"logged_out": True}
        time.sleep(1.0)  # the gateway's connection and first cycles, logged
    finally:
        stop(outputs, "serve", web)
        stop(outputs, "gateway", gateway)

    # The runs did log at DEBUG: an empty log would prove nothing.
    assert "DEBUG" in outputs.seen["serve"][1] or "DEBUG" in outputs.seen["gateway"][1]
    assert "***" in outputs.seen["db migrate (refused)"][1] + outputs.seen["db migrate (refused)"][0]
    secrets = {"user password": (USER_PW, None), "store URL password": (DSN_PW, None),
               "MQTT password": (MQTT_PW, None), "web app MQTT password": (WEB_MQTT_PW, None),
               "auth.secret": (AUTH_SECRET, None), "session id": (session.split(".")[0], None),
               "CSRF token": (csrf, None), "bearer token": (token, "users token"),
               "device password": (device_pw, "devices credentials"), "claim code": (claim, "devices claim-code")}
    leaks = {name: where for name, (secret, allowed) in secrets.items() if (where := outputs.leaks(secret, allowed))}
    assert leaks == {}, leaks
    # The commands that hand a secret out did print it, so the check above looked at real output.
    assert token in outputs.seen["users token"][0] and device_pw in outputs.seen["devices credentials"][0]


def _walk(value, key=None):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value
