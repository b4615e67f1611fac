"""The TwinStore contract for MQTT accounts, device vitals, field reports and the reporters' ledger,
on every backend (the `store` fixture of the contract suite: SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.twin.store.test_contract import store  # noqa: F401 - the two-backend fixture
from twin.cases.deadlines import Limits
from twin.cases.reports import Report
from twin.cases.workflow import new_case, transition
from twin.devices.health import Vitals
from twin.devices.mqttaccounts import AccountKind, MqttAccount, issue_account
from twin.sensing.catalog import Level
from twin.sensing.readings import DeadLetter

T0 = 1_795_939_200.0  # 2026-11-29T08:00:00Z, on the hour
A, B = "410204001001001", "410205001001001"
LIMITS = Limits(accept=900, handle=7200, township=1800, county=3600)


def account(username="aq-1", kind=AccountKind.DEVICE, subject=None, **kw) -> MqttAccount:
    return MqttAccount(username, kind, subject or username, "$7$101$c2FsdA==$aGFzaA==", T0, **kw)


# -- MQTT accounts ----------------------------------------------------------------------
def test_accounts_round_trip_replace_and_list(store):
    store.put_mqtt_account(account(expires_at=T0 + 60))
    store.put_mqtt_account(account("claim-aq-2", AccountKind.CLAIM, "aq-2"))
    assert store.get_mqtt_account("aq-1") == account(expires_at=T0 + 60)
    assert store.get_mqtt_account("nobody") is None
    store.put_mqtt_account(dataclasses.replace(account(), password_hash="$7$101$bmV3$bmV3", created_at=T0 + 5))
    assert store.get_mqtt_account("aq-1").password_hash == "$7$101$bmV3$bmV3"
    assert store.get_mqtt_account("aq-1").created_at == T0 + 5
    assert [a.username for a in store.list_mqtt_accounts()] == ["aq-1", "claim-aq-2"]
    assert [a.username for a in store.list_mqtt_accounts(subject="aq-2")] == ["claim-aq-2"]
    assert [a.username for a in store.list_mqtt_accounts(kind=AccountKind.DEVICE)] == ["aq-1"]


def test_revoking_a_subject_hides_its_accounts_but_keeps_them(store):
    store.put_mqtt_account(account("aq-1"))
    store.put_mqtt_account(account("claim-aq-1", AccountKind.CLAIM, "aq-1"))
    store.put_mqtt_account(account("aq-2"))
    assert sorted(store.revoke_mqtt_accounts("aq-1", T0 + 10, [AccountKind.DEVICE])) == ["aq-1"]
    assert [a.username for a in store.list_mqtt_accounts()] == ["aq-2", "claim-aq-1"]
    assert sorted(store.revoke_mqtt_accounts("aq-1", T0 + 20)) == ["claim-aq-1"]
    assert store.revoke_mqtt_accounts("aq-1", T0 + 30) == []  # nothing left to revoke
    revoked = store.get_mqtt_account("aq-1")
    assert revoked.revoked_at == T0 + 10 and not revoked.active  # the first revocation's time stays
    assert {a.username for a in store.list_mqtt_accounts(include_revoked=True)} == {"aq-1", "claim-aq-1", "aq-2"}


def test_a_claim_is_redeemed_once_and_not_after_it_expires(store):
    store.put_mqtt_account(account("claim-aq-1", AccountKind.CLAIM, "aq-1", expires_at=T0 + 3600))
    store.put_mqtt_account(account("claim-aq-2", AccountKind.CLAIM, "aq-2", expires_at=T0 + 60))
    new, _ = issue_account(AccountKind.DEVICE, "aq-1", "aq-1", now=T0 + 1)
    assert store.redeem_claim("claim-aq-1", new, T0 + 1) is True
    assert store.get_mqtt_account("aq-1") == new
    assert store.get_mqtt_account("claim-aq-1").revoked_at == T0 + 1
    other, _ = issue_account(AccountKind.DEVICE, "aq-1", "aq-1", now=T0 + 2)
    assert store.redeem_claim("claim-aq-1", other, T0 + 2) is False  # used
    assert store.get_mqtt_account("aq-1") == new  # and the second use stored nothing
    late, _ = issue_account(AccountKind.DEVICE, "aq-2", "aq-2", now=T0 + 61)
    assert store.redeem_claim("claim-aq-2", late, T0 + 61) is False  # expired
    assert store.redeem_claim("claim-aq-9", late, T0) is False  # never issued
    assert store.redeem_claim("aq-1", late, T0) is False  # a device account is no claim
    assert store.get_mqtt_account("aq-2") is None


def test_applied_time_is_recorded_per_account(store):
    store.put_mqtt_account(account("aq-1"))
    store.put_mqtt_account(account("aq-2"))
    store.mark_mqtt_accounts_applied(["aq-1"], T0 + 30)
    assert store.get_mqtt_account("aq-1").applied_at == T0 + 30
    assert store.get_mqtt_account("aq-2").applied_at is None


# -- device vitals ------------------------------------------------------------------------
def test_vitals_add_counts_and_keep_the_newest_values(store):
    assert store.device_vitals("aq-1", T0) is None
    store.record_vitals([Vitals("aq-1", T0 + 100, 3, battery=0.8, rssi=-90.0, snr=7.5, clock_skew_s=-0.4),
                         Vitals("aq-1", T0 + 200, 2, battery=0.79),  # merged in the batch: newer battery
                         Vitals("aq-2", T0 + 50, 1, linkquality=120.0)])
    store.record_vitals([Vitals("aq-1", T0 + 150, 4, battery=0.95, rssi=-70.0)])  # older than what is stored
    v = store.device_vitals("aq-1", T0 + 300)
    assert (v.last_message_at, v.messages, v.battery, v.rssi, v.snr, v.clock_skew_s) == \
        (T0 + 200, 9, 0.79, -90.0, 7.5, -0.4)
    assert v.messages_last_hour == 9
    assert store.device_vitals("aq-2", T0 + 300).linkquality == 120.0


def test_messages_of_the_last_hour_count_part_of_the_hour_before(store):
    store.record_vitals([Vitals("aq-1", T0 - 1800, 10)])  # the hour before T0
    store.record_vitals([Vitals("aq-1", T0 + 60, 4)])
    store.record_vitals([Vitals("aq-1", T0 - 7200, 100)])  # two hours before: out of the window
    assert store.device_vitals("aq-1", T0 + 900).messages_last_hour == pytest.approx(4 + 10 * 0.75)
    assert store.device_vitals("aq-1", T0 + 900).messages == 114


def test_dead_letter_stats_of_one_device(store):
    store.write_dead_letters([
        DeadLetter("schema", "t", b"{}", T0, "aq-1"), DeadLetter("schema", "t", b"{}", T0 + 5, "aq-1"),
        DeadLetter("stale_timestamp", "t", b"{}", T0 + 2, "aq-1"), DeadLetter("schema", "t", b"{}", T0 + 9, "aq-2"),
    ])
    assert store.dead_letter_stats("aq-1") == {"schema": (2, T0 + 5), "stale_timestamp": (1, T0 + 2)}
    assert store.dead_letter_stats("aq-9") == {}


# -- field reports and the ledger ------------------------------------------------------------
def report(id_="R-1", reporter="rider-7", cell=A, ref=None, **kw) -> Report:
    return Report(id_, reporter, kw.pop("type", "pothole"), 34.79, 114.33, cell, T0, "mqtt", client_ref=ref, **kw)


def case_for(store, rep: Report):
    case, entry = new_case(type_=rep.type, severity=Level.WARNING, cell_code=rep.cell_code, now=T0,
                           actor="field-reporter", source="report")
    saved, _ = store.save_case(case, [entry])
    store.set_report_case(rep.id, saved.id)
    return saved


def act(store, case, action, **fields):
    changed, entry = transition(case, action, actor="dana", now=T0 + 60, limits=LIMITS, **fields)
    return store.save_case(changed, [entry])[0]


def test_reports_round_trip_and_are_stored_once_per_reporter_reference(store):
    first = report(ref="p-1", note="deep hole", photo_url="https://photos.local/1.jpg", ts=T0 - 5)
    assert store.put_report(first) is True
    assert store.put_report(dataclasses.replace(first, id="R-2")) is False  # the phone sent it again
    assert store.put_report(report("R-3", "rider-8", ref="p-1")) is True  # someone else's p-1
    assert store.put_report(report("R-4")) is True and store.put_report(report("R-5")) is True  # no reference
    assert store.find_report("rider-7", "p-1") == first
    assert store.find_report("rider-7", "p-2") is None
    view = store.get_report("R-1")
    assert (view.report, view.case_status, view.points) == (first, None, None)
    assert [v.report.id for v in store.list_reports(reporter_id="rider-7")] == ["R-1", "R-4", "R-5"]


def test_confirmed_reports_earn_points_once_per_district(store):
    reports = [report("R-1"), report("R-2"), report("R-3", "rider-8"), report("R-4", "rider-8", cell=B),
               report("R-5", "rider-9")]
    for r in reports:
        store.put_report(r)
    cases = {r.id: case_for(store, r) for r in reports}
    act(store, cases["R-1"], "file")
    act(store, cases["R-3"], "file")
    act(store, cases["R-4"], "file")
    act(store, cases["R-2"], "cancel", reason="false_alarm")  # not confirmed
    # R-5 still waits for the dispatcher
    assert store.settle_reports(T0 + 120, 10) == 3
    assert store.settle_reports(T0 + 180, 10) == 0  # nothing twice
    assert store.leaderboard() == [("rider-8", 20, 2), ("rider-7", 10, 1)]
    assert store.leaderboard(A[:6]) == [("rider-7", 10, 1), ("rider-8", 10, 1)]
    assert store.leaderboard(B[:6]) == [("rider-8", 10, 1)]
    assert store.leaderboard("999999") == []
    assert [(v.case_status, v.points) for v in store.list_reports(reporter_id="rider-7")] == \
        [("filed", 10), ("cancelled", None)]
    assert store.list_reports(case_id=cases["R-5"].id)[0].case_status == "reported"
