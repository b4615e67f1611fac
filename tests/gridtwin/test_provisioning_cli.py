"""`gridtwin devices credentials|revoke|claim-code`, `gridtwin broker config` and `gridtwin reporters ...`
end to end on a real SQLite store."""

from __future__ import annotations

import io
import json
import os
import time

import pytest

import gridtwin.cli as cli
from twin.devices.mqttaccounts import verify_mosquitto_hash
from twin.people import accounts
from twin.store import open_store


@pytest.fixture
def run(monkeypatch, capsys, tmp_path):
    """Run `gridtwin ARGS...` in-process against a store in tmp_path: (exit status, stdout, stderr)."""
    for name in list(os.environ):
        if name.startswith("GRIDTWIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GRIDTWIN_STORE_URL", f"sqlite:///{tmp_path}/t.db")
    monkeypatch.setenv("GRIDTWIN_PROVISIONING_BROKER_HOST", "mqtt.grid.local")

    def run(*argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        try:
            status = cli.main([str(a) for a in argv])
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    assert run("devices", "add", "aq-1", "--kind", "sensor", "--lat", "34.795", "--lon", "114.345")[0] == 0
    return run


def _passwords(path) -> dict[str, str]:
    return dict(line.split(":", 1) for line in path.read_text().splitlines())


def test_credentials_bundle_qr_code_and_broker_files(run, tmp_path):
    status, out, _ = run("devices", "credentials", "aq-1", "--out", tmp_path / "bundles", "--json")
    assert status == 0
    bundle = json.loads(out.splitlines()[-1])
    assert bundle["broker"] == {"host": "mqtt.grid.local", "port": 1883, "tls": False}
    assert (bundle["username"], bundle["client_id"], bundle["prefix"]) == ("aq-1", "aq-1", "gridtwin/v1")
    assert bundle["topics"] == {"readings": "gridtwin/v1/readings/aq-1", "status": "gridtwin/v1/status/aq-1",
                                "camera_events": "gridtwin/v1/camera/aq-1/events"}
    assert json.loads((tmp_path / "bundles" / "aq-1.json").read_text()) == bundle
    png = (tmp_path / "bundles" / "aq-1.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and oct((tmp_path / "bundles" / "aq-1.png").stat().st_mode)[-3:] == "600"

    status, _, err = run("devices", "credentials", "aq-1")
    assert status == 2 and "already has MQTT credentials" in err and "--rotate" in err

    status, out, _ = run("broker", "config", "--out", tmp_path / "broker", "--json")
    assert status == 0 and json.loads(out.splitlines()[-1])["accounts"] == 3
    hashes = _passwords(tmp_path / "broker" / "passwords")
    assert set(hashes) == {"aq-1", "gridtwin-gateway", "gridtwin-web"}
    assert hashes["aq-1"].startswith("$7$101$") and verify_mosquitto_hash(bundle["password"], hashes["aq-1"])
    services = (tmp_path / "broker" / "service-accounts.toml").read_text()
    assert 'username = "gridtwin-gateway"' in services and 'mqtt_username = "gridtwin-web"' in services
    acl = (tmp_path / "broker" / "acl").read_text()
    assert "user aq-1\ntopic write gridtwin/v1/readings/aq-1\n" in acl

    # A second run keeps the service passwords (and says nothing new about them).
    status, out, _ = run("broker", "config", "--out", tmp_path / "broker", "--json")
    assert json.loads(out.splitlines()[-1])["service_accounts_file"] is None
    assert _passwords(tmp_path / "broker" / "passwords")["gridtwin-gateway"] == hashes["gridtwin-gateway"]

    status, out, _ = run("devices", "credentials", "aq-1", "--rotate", "--json")
    rotated = json.loads(out.splitlines()[-1])["password"]
    assert status == 0 and rotated != bundle["password"]
    run("broker", "config", "--out", tmp_path / "broker")
    assert verify_mosquitto_hash(rotated, _passwords(tmp_path / "broker" / "passwords")["aq-1"])

    assert run("devices", "revoke", "aq-1")[0] == 0
    run("broker", "config", "--out", tmp_path / "broker")
    assert "aq-1" not in _passwords(tmp_path / "broker" / "passwords")
    assert "user aq-1\n" not in (tmp_path / "broker" / "acl").read_text()


def test_claim_code_is_shown_once_and_only_its_hash_kept(run, tmp_path):
    status, out, _ = run("devices", "claim-code", "aq-1", "--hours", "2", "--json")
    code = json.loads(out.splitlines()[-1])["claim_code"]
    assert status == 0 and len(code) == 19
    run("broker", "config", "--out", tmp_path / "broker")
    hashes = _passwords(tmp_path / "broker" / "passwords")
    assert verify_mosquitto_hash(code, hashes["claim-aq-1"]) and code not in (tmp_path / "t.db").read_bytes().decode(
        "latin-1")
    status, _, err = run("devices", "claim-code", "aq-9")
    assert status == 2 and "aq-9 is not registered" in err


def test_reporter_credentials_need_a_reporter_and_the_leaderboard_is_json(run, tmp_path):
    status, _, err = run("reporters", "credentials", "rider-7")
    assert status == 2 and "gridtwin users add rider-7 --role reporter" in err
    with open_store(f"sqlite:///{tmp_path}/t.db") as store:
        accounts.create_user(store, "rider-7", "reporter", now=time.time(), actor="test")
    status, out, _ = run("reporters", "credentials", "rider-7", "--json")
    assert status == 0 and json.loads(out.splitlines()[-1])["topic"] == "gridtwin/v1/reports/rider-7"
    status, out, _ = run("reporters", "leaderboard", "--district", "410204", "--json")
    assert status == 0 and json.loads(out.splitlines()[-1]) == {"district": "410204", "entries": []}
