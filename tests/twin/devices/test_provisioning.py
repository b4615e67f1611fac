"""Credentials, claim codes and field reports in the twin, without a broker: what is stored, what is
refused, and how a report goes from the phone to the case loop and the ledger."""

from __future__ import annotations

import subprocess

import pytest

from mqttwire.mosquitto import acl_file, password_file
from tests.gateway.conftest import DEVICES, small_grid
from twin.cases.deadlines import Limits
from twin.cases.reports import REPORT_ACTOR, file_report, parse_report, settle
from twin.cases.workflow import transition
from twin.devices.mqttaccounts import AccountKind, mosquitto_hash, verify_mosquitto_hash
from twin.devices.provisioning import (
    ClaimRefused,
    issue_claim_code,
    issue_device_credentials,
    issue_reporter_credentials,
    redeem_claim_code,
)
from twin.errors import TwinError
from twin.store import open_store

NOW = 1_795_939_200.0


@pytest.fixture
def store(tmp_path):
    with open_store(f"sqlite:///{tmp_path}/t.db") as s:
        s.migrate()
        s.put_grid(small_grid())
        s.put_devices(DEVICES)
        yield s


def test_our_hash_is_the_one_mosquitto_passwd_writes(tmp_path):
    """The same salt and password give mosquitto_passwd's exact line (its default PBKDF2-SHA512, 101 rounds)."""
    path = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "alice", "s3cret-pass"], check=True)
    theirs = path.read_text().strip().split(":", 1)[1]
    assert verify_mosquitto_hash("s3cret-pass", theirs)
    import base64

    salt = base64.b64decode(theirs.split("$")[3])
    assert mosquitto_hash("s3cret-pass", salt=salt) == theirs


def test_a_claim_code_works_once_and_only_when_right(store):
    code = issue_claim_code(store, "aq-1", now=NOW, hours=1)
    with pytest.raises(ClaimRefused) as wrong:
        redeem_claim_code(store, "aq-1", "AAAA-BBBB-CCCC-DDDD", now=NOW + 1)
    assert wrong.value.code == "wrong_code"
    account, password = redeem_claim_code(store, "aq-1", code, now=NOW + 2)
    assert (account.username, account.kind) == ("aq-1", AccountKind.DEVICE)
    assert verify_mosquitto_hash(password, store.get_mqtt_account("aq-1").password_hash)
    with pytest.raises(ClaimRefused) as again:
        redeem_claim_code(store, "aq-1", code, now=NOW + 3)
    assert again.value.code == "used"
    assert store.get_mqtt_account("aq-1").password_hash == account.password_hash  # not replaced by the refusal


@pytest.mark.parametrize("device, prepare, code", [
    ("aq-2", lambda s: issue_claim_code(s, "aq-2", now=NOW, hours=1), "expired"),  # waited too long
    ("aq-2", lambda s: None, "no_claim"),  # no code was ever issued
    ("aq-99", lambda s: None, "unknown_device"),  # not a registered device
])
def test_claims_that_get_nothing(store, device, prepare, code):
    issued = prepare(store)
    with pytest.raises(ClaimRefused) as refused:
        redeem_claim_code(store, device, issued or "AAAA", now=NOW + 7200)
    assert refused.value.code == code


def test_device_and_reporter_names_cannot_collide(store):
    from twin.people.accounts import create_user

    create_user(store, "aq-2", "reporter", now=NOW, actor="test")
    issue_reporter_credentials(store, "aq-2", now=NOW)
    with pytest.raises(TwinError, match="taken by reporter aq-2"):
        issue_device_credentials(store, "aq-2", now=NOW)
    with pytest.raises(TwinError, match="not a reporter"):
        issue_reporter_credentials(store, "aq-1", now=NOW)


def test_broker_files_leave_out_revoked_accounts_and_refuse_unsafe_names(store):
    issue_device_credentials(store, "aq-1", now=NOW)
    issue_device_credentials(store, "aq-2", now=NOW)
    store.revoke_mqtt_accounts("aq-2", NOW)
    accounts = store.list_mqtt_accounts(include_revoked=True)
    assert [line.split(":")[0] for line in password_file(accounts).splitlines()] == ["aq-1"]
    acl = acl_file(accounts, "gridtwin/v1")
    assert "user aq-1\n" in acl and "aq-2" not in acl
    bad = [a for a in accounts if a.username == "aq-1"][0]
    import dataclasses

    with pytest.raises(TwinError):
        password_file([dataclasses.replace(bad, username="a:b")])
    with pytest.raises(TwinError):
        acl_file([dataclasses.replace(bad, subject="x\ntopic readwrite #")], "gridtwin/v1")


def test_a_report_goes_to_the_loop_and_earns_points_once_confirmed(store):
    grid = small_grid()
    payload = {"type": "litter", "note": "bags", "loc": {"lat": 34.785, "lon": 114.345}, "report_id": "p-9"}
    report = file_report(store, grid, parse_report(payload, reporter_id="rider-7", channel="mqtt", now=NOW, grid=grid))
    again = file_report(store, grid, parse_report(payload, reporter_id="rider-7", channel="mqtt", now=NOW + 5,
                                                  grid=grid))
    assert again.case_id == report.case_id and again.id == report.id
    case = store.get_case(report.case_id)
    assert (case.source, case.reporter, case.cell_code) == ("report", REPORT_ACTOR, "410204001001004")
    (entry,) = store.audit_log(subject="case", subject_id=case.id)
    assert entry.actor == REPORT_ACTOR and "rider-7" not in entry.details + entry.snapshot
    assert settle(store, NOW + 10) == 0  # not confirmed yet
    filed, record = transition(case, "file", actor="dana", now=NOW + 20, limits=Limits(900, 7200, 1800, 3600))
    store.save_case(filed, [record])
    assert settle(store, NOW + 30) == 1 and settle(store, NOW + 40) == 0
    assert store.leaderboard("410204") == [("rider-7", 10, 1)]
