"""The TwinStore contract for cases, the audit log, users and credentials, and the governance
counts, on every backend (the `store` fixture of the contract suite: SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from tests.twin.store.test_contract import store  # noqa: F401 - the two-backend fixture
from twin.cases.deadlines import Limits
from twin.cases.workflow import Action, CaseQuery, Status, Tier, new_case, transition
from twin.errors import StaleCase, StoreError
from twin.people.audit import AuditEntry, verify_chain
from twin.people.users import BearerToken, Role, User
from twin.sensing.catalog import Level

T0 = 1_795_939_200.0  # 2026-11-29T08:00:00Z
DAY = 86_400.0
A, B = "410204001001001", "410204002001001"
LIMITS = Limits(accept=900, handle=7200, township=1800, county=3600)


def reported(store, cell=A, type_="pm25_high", now=T0, **kw):
    case, entry = new_case(type_=type_, severity=kw.pop("severity", Level.WARNING), cell_code=cell, now=now,
                           anomaly_ts=now - 1, **kw)
    return store.save_case(case, [entry], anomalies=[(f"an-{cell}-{type_}-{now}", now - 1)])


def moved(store, case, action, now, **fields):
    changed, entry = transition(case, action, actor="dana", now=now, limits=LIMITS, **fields)
    return store.save_case(changed, [entry])[0]


def test_new_cases_are_numbered_per_utc_day_and_audited(store):
    first, (record,) = reported(store)
    second, _ = reported(store, cell=B, now=T0 + 60)
    tomorrow, _ = reported(store, now=T0 + DAY)
    assert (first.id, second.id, tomorrow.id) == ("C-20261129-0001", "C-20261129-0002", "C-20261130-0001")
    assert first.version == 1
    assert (record.seq, record.subject, record.subject_id, record.action) == (1, "case", first.id, "report")
    assert record.snapshot_json()["id"] == first.id
    assert store.get_case(first.id) == first


def test_every_field_round_trips(store):
    case, _ = reported(store, lat=34.7972, lon=114.3476, title="PM2.5 high", description="near the gate")
    full = dataclasses.replace(
        case, status=Status.EVALUATED, level=Tier.COUNTY, assignee="wang", responsible="Gulou desk", filed_at=T0 + 1.5,
        dispatched_at=T0 + 2.25, accepted_at=T0 + 3.000001, handled_at=T0 + 4, closed_at=T0 + 5, evaluated_at=T0 + 6,
        accept_due=T0 + 900, handle_due=T0 + 7200, due_at=None, escalate_at=None, escalations=2, late=True,
        satisfaction=4, feedback="swept", photo_url="https://p.local/1.jpg", severity=Level.CRITICAL,
    )
    saved, _ = store.save_case(full, [])
    assert saved.version == 2
    assert store.get_case(case.id) == saved
    assert store.get_case("C-20000101-0001") is None


def test_a_stale_version_is_refused_and_changes_nothing(store):
    case, _ = reported(store)
    filed = moved(store, case, Action.FILE, T0 + 10)
    before = store.last_audit_seq()
    stale, entry = transition(case, Action.CANCEL, actor="eve", now=T0 + 11, limits=LIMITS, reason="duplicate")
    with pytest.raises(StaleCase):
        store.save_case(stale, [entry])
    assert store.get_case(case.id) == filed and store.last_audit_seq() == before


def test_find_cases_filters_and_pages(store):
    a1, _ = reported(store, cell=A, now=T0)
    a2, _ = reported(store, cell=A, type_="fire", now=T0 + 10, severity=Level.CRITICAL)
    b1, _ = reported(store, cell=B, now=T0 + 20)
    filed = moved(store, a1, Action.FILE, T0 + 30)
    dispatched = moved(store, filed, Action.DISPATCH, T0 + 40, assignee="wang")  # accept due T0 + 940
    moved(store, b1, Action.REASSIGN, T0 + 50, assignee="li")

    def ids(**filters):
        cases, total = store.find_cases(CaseQuery(**filters))
        assert total == len(cases) or "limit" in filters
        return [c.id for c in cases]

    assert ids() == [b1.id, a2.id, a1.id]  # newest first
    assert ids(statuses=(Status.DISPATCHED,)) == [a1.id]
    assert ids(statuses=(Status.REPORTED, Status.DISPATCHED)) == [b1.id, a2.id, a1.id]
    assert ids(cells=(A,)) == [a2.id, a1.id]
    assert ids(types=("fire",)) == [a2.id]
    assert ids(assignee="li") == [b1.id]
    assert ids(level=Tier.GRID) == [b1.id, a2.id, a1.id] and ids(level=Tier.COUNTY) == []
    assert ids(overdue=True, now=T0 + 941) == [dispatched.id]
    assert ids(overdue=True, now=T0 + 939) == []
    assert ids(overdue=False, now=T0 + 941) == [b1.id, a2.id]
    page, total = store.find_cases(CaseQuery(limit=2, offset=1))
    assert [c.id for c in page] == [a2.id, a1.id] and total == 3
    page, total = store.find_cases(CaseQuery(limit=1))
    assert [c.id for c in page] == [b1.id] and total == 3


def test_open_case_to_merge_respects_cell_type_window_and_status(store):
    case, _ = reported(store, now=T0)  # last anomaly at T0 - 1
    assert store.open_case_to_merge(A, "pm25_high", T0 - 1) == case
    assert store.open_case_to_merge(A, "pm25_high", T0 - 0.5) is None  # older than the window
    assert store.open_case_to_merge(B, "pm25_high", T0 - 100) is None
    assert store.open_case_to_merge(A, "fire", T0 - 100) is None
    cancelled = moved(store, case, Action.CANCEL, T0 + 5, reason="false_alarm")
    assert cancelled.status is Status.CANCELLED
    assert store.open_case_to_merge(A, "pm25_high", T0 - 100) is None


def test_anomalies_belong_to_one_case(store):
    case, _ = reported(store)
    other, _ = reported(store, cell=B)
    store.save_case(store.get_case(case.id), [], anomalies=[("an-x", T0 + 1), ("an-y", T0 + 2)])
    store.save_case(store.get_case(other.id), [], anomalies=[("an-x", T0 + 3)])  # already with the first case
    assert store.case_anomaly_ids(case.id) == [f"an-{A}-pm25_high-{T0}", "an-x", "an-y"]
    assert store.cases_of_anomalies(["an-x", "an-y", "an-z"]) == {"an-x": case.id, "an-y": case.id}
    assert store.cases_of_anomalies([]) == {}


def test_escalation_times(store):
    assert store.next_escalation() is None and store.cases_to_escalate(T0 + 1e6) == []
    one, _ = reported(store)
    two, _ = reported(store, cell=B)
    one = moved(store, moved(store, one, Action.FILE, T0), Action.DISPATCH, T0 + 100, assignee="wang")
    two = moved(store, moved(store, two, Action.FILE, T0), Action.DISPATCH, T0 + 50, assignee="li")
    assert store.next_escalation() == T0 + 950
    assert store.cases_to_escalate(T0 + 949) == []
    assert store.cases_to_escalate(T0 + 950) == []  # at its deadline a case is still on time
    assert [c.id for c in store.cases_to_escalate(T0 + 950.001)] == [two.id]
    assert [c.id for c in store.cases_to_escalate(T0 + 1001)] == [two.id, one.id]
    moved(store, two, Action.ACCEPT, T0 + 60)
    assert store.next_escalation() == T0 + 1000


def test_the_audit_log_is_chained_filtered_and_followed(store):
    case, _ = reported(store)
    case = moved(store, case, Action.FILE, T0 + 10)
    store.append_audit([AuditEntry(T0 + 20, "dana", "login", "user", "dana")])
    moved(store, case, Action.DISPATCH, T0 + 30, assignee="wang")
    log = store.audit_log()
    assert [r.action for r in log] == ["report", "file", "login", "dispatch"]
    assert verify_chain(log) == (4, log[-1].hash)
    assert store.last_audit_seq() == 4
    assert [r.seq for r in store.audit_log(subject="case", after_seq=1)] == [2, 4]
    assert [r.action for r in store.audit_log(subject_id=case.id)] == ["report", "file", "dispatch"]
    assert [r.action for r in store.audit_log(actor="dana", action="login")] == ["login"]
    assert [r.seq for r in store.audit_log(start=T0 + 10, end=T0 + 30)] == [2, 3]
    assert [r.seq for r in store.audit_log(limit=2)] == [1, 2]
    assert store.audit_cursor("relay") is None
    store.set_audit_cursor("relay", 2)
    store.set_audit_cursor("relay", 4)
    assert store.audit_cursor("relay") == 4


def test_appends_from_threads_keep_one_chain_and_unique_numbers(store):
    errors = []

    def work(cell):
        try:
            for i in range(8):
                case, _ = reported(store, cell=cell, now=T0 + i)
                moved(store, case, Action.FILE, T0 + i + 0.5)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(cell,)) for cell in (A, B, A)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    cases, total = store.find_cases(CaseQuery(limit=100))
    assert total == 24 and len({c.id for c in cases}) == 24
    assert verify_chain(store.audit_log(limit=100))[0] == 48


def test_users_and_credentials(store):
    entry = AuditEntry(T0, "cli:root", "user.create", "user", "wang")
    record = store.put_user(User("wang", Role.GRID_WORKER, "scrypt$...", "Wang Fang", T0), entry)
    store.put_user(User("ann", Role.ADMIN, None, "", T0 + 1), dataclasses.replace(entry, subject_id="ann"))
    assert record.action == "user.create" and store.get_user("wang").display_name == "Wang Fang"
    assert [u.name for u in store.list_users()] == ["ann", "wang"] and store.get_user("nobody") is None
    store.add_credential(BearerToken("d-token", "token", "wang", T0, None, "sensor bridge"))
    store.add_credential(BearerToken("d-session", "session", "wang", T0, T0 + 3600),
                         AuditEntry(T0, "wang", "login", "user", "wang"))
    assert store.credential_user("d-token", "token", T0 + 1e6).name == "wang"
    assert store.credential_user("d-token", "session", T0) is None  # the kind must match
    assert store.credential_user("d-session", "session", T0 + 3599).name == "wang"
    assert store.credential_user("d-session", "session", T0 + 3600) is None  # ended
    assert [c.digest for c in store.list_credentials("wang")] == ["d-session", "d-token"]
    store.add_credential(BearerToken("d-later", "session", "ann", T0 + 7200, T0 + 9000))  # sweeps ended sessions
    assert [c.digest for c in store.list_credentials()] == ["d-token", "d-later"]
    assert store.delete_credential("d-token") and not store.delete_credential("d-token")
    assert store.credential_user("d-token", "token", T0) is None
    store.put_user(dataclasses.replace(store.get_user("ann"), disabled=True), dataclasses.replace(entry, subject_id="ann"))
    assert store.credential_user("d-later", "session", T0 + 7300) is None  # a disabled user
    assert [r.action for r in store.audit_log()] == ["user.create", "user.create", "login", "user.create"]
    with pytest.raises(StoreError):  # a credential of an unknown user
        store.add_credential(BearerToken("d-x", "token", "ghost", T0))


def test_kpi_counts_by_cell_street_and_district(store):
    # Street 410204001: one case resolved on time and evaluated (4), one cancelled as a false alarm.
    ok, _ = reported(store, cell=A, now=T0)
    ok = moved(store, ok, Action.FILE, T0 + 60)
    ok = moved(store, ok, Action.DISPATCH, T0 + 120, assignee="wang")
    ok = moved(store, ok, Action.ACCEPT, T0 + 300)
    ok = moved(store, ok, Action.HANDLE, T0 + 1000, note="done")
    ok = moved(store, ok, Action.CLOSE, T0 + 1200)
    moved(store, ok, Action.EVALUATE, T0 + 1300, satisfaction=4)
    false, _ = reported(store, cell=A, type_="noise_db_high", now=T0 + 10)
    moved(store, false, Action.CANCEL, T0 + 20, reason="false_alarm")
    # Street 410204002: one late case, escalated once, closed; one still open and overdue.
    late, _ = reported(store, cell=B, now=T0 + 5)
    late = moved(store, moved(store, late, Action.FILE, T0 + 5), Action.DISPATCH, T0 + 65, assignee="li")
    late = moved(store, late, Action.ESCALATE, T0 + 965)
    late = moved(store, moved(store, late, Action.ACCEPT, T0 + 1000), Action.HANDLE, T0 + 2000, note="done")
    moved(store, late, Action.CLOSE, T0 + 2405)
    open_, _ = reported(store, cell=B, type_="fire", now=T0 + 30)
    moved(store, moved(store, open_, Action.FILE, T0 + 30), Action.DISPATCH, T0 + 30, assignee="li")
    reported(store, cell=B, type_="smoke", now=T0 + DAY)  # outside the period

    counts = {c.unit: c for c in store.kpi_counts("street", T0, T0 + 3600, T0 + 3000)}
    north, south = counts["410204001"], counts["410204002"]
    assert (north.cases, north.open, north.cancelled, north.resolved, north.resolved_on_time) == (2, 0, 1, 1, 1)
    assert (north.warnings_decided, north.warnings_false, north.evaluated, north.satisfaction_sum) == (2, 1, 1, 4)
    assert (north.dispatched, north.dispatch_seconds, north.closed, north.close_seconds) == (1, 120, 1, 1200)
    assert (south.cases, south.open, south.overdue, south.resolved, south.resolved_on_time) == (2, 1, 1, 1, 0)
    assert (south.dispatched, south.dispatch_seconds, south.closed, south.close_seconds) == (2, 60, 1, 2400)
    assert south.escalations == 1 and south.warnings_decided == 2 and south.warnings_false == 0
    assert [c.unit for c in store.kpi_counts("grid", T0, T0 + 3600, T0)] == [A, B]
    (district,) = store.kpi_counts("district", T0, T0 + 2 * DAY, T0 + 3000)
    assert (district.unit, district.cases, district.escalations) == ("410204", 5, 1)
    assert store.kpi_counts("district", T0 + 5 * DAY, T0 + 6 * DAY, T0) == []


def test_a_case_acted_on_exactly_at_its_deadline_is_on_time_and_not_overdue(store):
    """Deadlines are met at their very instant, in the figures, the overdue filter and escalation alike."""
    on_time, _ = reported(store, cell=A, now=T0)
    on_time = moved(store, moved(store, on_time, Action.FILE, T0), Action.DISPATCH, T0, assignee="wang")
    on_time = moved(store, on_time, Action.ACCEPT, T0 + 900)  # accept due T0 + 900
    on_time = moved(store, on_time, Action.HANDLE, T0 + 7200, note="done")  # handle due T0 + 7200
    moved(store, on_time, Action.CLOSE, T0 + 7300)
    late, _ = reported(store, cell=A, type_="fire", now=T0)
    late = moved(store, moved(store, late, Action.FILE, T0), Action.DISPATCH, T0, assignee="wang")
    late = moved(store, late, Action.ACCEPT, T0 + 900.001)
    moved(store, moved(store, late, Action.HANDLE, T0 + 1000, note="done"), Action.CLOSE, T0 + 1100)
    waiting, _ = reported(store, cell=B, now=T0)
    waiting = moved(store, moved(store, waiting, Action.FILE, T0), Action.DISPATCH, T0 + 100, assignee="li")

    (a,) = store.kpi_counts("street", T0, T0 + 1, T0 + 7300)[:1]
    assert (a.unit, a.resolved, a.resolved_on_time) == ("410204001", 2, 1)
    at_deadline = {c.unit: c.overdue for c in store.kpi_counts("street", T0, T0 + 1, T0 + 1000)}
    just_after = {c.unit: c.overdue for c in store.kpi_counts("street", T0, T0 + 1, T0 + 1000.001)}
    assert at_deadline["410204002"] == 0 and just_after["410204002"] == 1
    assert store.find_cases(CaseQuery(overdue=True, now=T0 + 1000))[1] == 0
    assert [c.id for c in store.find_cases(CaseQuery(overdue=True, now=T0 + 1000.001))[0]] == [waiting.id]
    assert store.cases_to_escalate(T0 + 1000) == []
    assert [c.id for c in store.cases_to_escalate(T0 + 1000.001)] == [waiting.id]


def _raw(store):
    """A connection of the store's database outside the store, as someone with the file or a login has."""
    if store.url.startswith("sqlite"):
        import sqlite3

        from twin.store.sqlite import sqlite_path

        return sqlite3.connect(sqlite_path(store.url), isolation_level=None), (sqlite3.Error,)
    import psycopg

    return psycopg.connect(store.url, autocommit=True), (psycopg.Error,)


def test_the_audit_log_refuses_changes_and_a_forced_change_breaks_the_chain(store):
    from twin.errors import AuditChainBroken

    case, _ = reported(store)
    moved(store, moved(store, case, Action.FILE, T0 + 1), Action.DISPATCH, T0 + 2, assignee="wang")
    assert verify_chain(store.audit_log())[0] == 3
    db, errors = _raw(store)
    try:
        for statement in ("UPDATE audit_log SET note = 'nothing happened' WHERE seq = 2",
                          "DELETE FROM audit_log WHERE seq = 3"):
            with pytest.raises(errors, match="append-only"):
                db.execute(statement)
        if store.url.startswith("sqlite"):
            db.execute("DROP TRIGGER audit_log_no_update")
        else:
            db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        db.execute("UPDATE audit_log SET note = 'nothing happened' WHERE seq = 2")
    finally:
        db.close()
    with pytest.raises(AuditChainBroken) as info:
        verify_chain(store.audit_log())
    assert info.value.seq == 2
