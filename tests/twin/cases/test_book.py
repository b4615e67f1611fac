"""The case book on a real SQLite store: cases from anomalies and the merge window, auto-dispatch,
manual reports, people's actions in the order their checks run, races, and escalation."""

from __future__ import annotations

import threading

import pytest
from shapely.geometry import box

from twin.cases.book import CaseBook
from twin.cases.responsibility import Responsibility
from twin.cases.workflow import CaseQuery, Status, Tier
from twin.config import CaseSettings
from twin.errors import AccessDenied, CaseNotFound, IllegalTransition, InvalidTransition
from twin.grid.cells import Cell, Grid
from twin.people.access import Principal
from twin.people.users import Role
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.store import open_store

T0 = 1_795_939_200.0
# A row of three cells west to east: A B C; A has no grid worker.
CODES = [f"410204001001{n:03d}" for n in range(1, 4)]
A, B, C = CODES
GRID = Grid([Cell(code, f"Grid {i + 1}", box(114.33 + i * 0.002, 34.79, 114.332 + i * 0.002, 34.792),
                  "Gulou District", "Xiangguo Street", "Shudian Community", worker=None if i == 0 else f"worker-{i}")
             for i, code in enumerate(CODES)])
DANA = Principal("dana", Role.DISPATCHER)


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/twin.db")
    store.migrate()
    store.put_grid(GRID)
    yield store
    store.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def book(store, clock):
    return CaseBook(store, GRID, CaseSettings(), Responsibility(teams={A[:9]: "xiangguo-team"}), clock=clock)


def anomaly(id_, type_="pm25_high", cell=B, ts=T0, detector="threshold", severity=Level.WARNING, **kw):
    return Anomaly(id_, type_, kw.pop("status", "opened"), severity, cell, kw.pop("device", f"dev-{id_}"), detector,
                   ts, f"{type_} at {cell}", **kw)


def stored(store, *anomalies):
    store.write_anomalies(list(anomalies))
    return list(anomalies)


# -- cases from anomalies ----------------------------------------------------------------
def test_anomalies_of_a_type_in_a_cell_join_one_case_within_the_window(book, store):
    (first,) = book.take_anomalies(stored(store, anomaly("a1", ts=T0)))
    assert (first.status, first.anomaly_count, first.responsible) == (Status.REPORTED, 1, "worker-1")
    (joined,) = book.take_anomalies(stored(store, anomaly("a2", ts=T0 + 1799, severity=Level.CRITICAL)))
    assert joined.id == first.id and joined.anomaly_count == 2 and joined.severity is Level.CRITICAL
    (later,) = book.take_anomalies(stored(store, anomaly("a3", ts=T0 + 1799 + 1801)))  # the window is per anomaly
    assert later.id != first.id
    other_type, other_cell = book.take_anomalies(stored(store, anomaly("a4", "noise_db_high"), anomaly("a5", cell=C)))
    assert len({first.id, other_type.id, other_cell.id}) == 3
    assert [r.action for r in book.timeline(first.id)] == ["report", "merge"]


def test_redelivered_or_doubled_anomalies_count_once(book, store):
    a = stored(store, anomaly("a1"))[0]
    book.take_anomalies([a, a])
    book.take_anomalies([a])
    (case,), total = store.find_cases(CaseQuery())
    assert total == 1 and case.anomaly_count == 1 and store.case_anomaly_ids(case.id) == ["a1"]


def test_what_never_becomes_a_case(book, store):
    cleared = anomaly("c1", status="cleared")
    health = anomaly("h1", "sensor_stuck", category="device_health")
    outside = anomaly("o1", cell="999999001001001")
    assert book.take_anomalies(stored(store, cleared, health) + [outside]) == []
    assert store.find_cases(CaseQuery())[1] == 0


def test_a_cancelled_case_is_not_joined(book, store):
    (case,) = book.take_anomalies(stored(store, anomaly("a1")))
    book.act(case.id, "cancel", DANA, reason="false_alarm")
    (fresh,) = book.take_anomalies(stored(store, anomaly("a2", ts=T0 + 60)))
    assert fresh.id != case.id


# -- auto-dispatch ---------------------------------------------------------------------------
def test_a_confirmed_fire_is_filed_and_dispatched_to_the_cell_worker(book, store):
    fire = stored(store, anomaly("f1", "fire", cell=B, detector="camera", severity=Level.CRITICAL))
    (reported,) = book.take_anomalies(fire)
    assert reported.status is Status.REPORTED
    smoke = stored(store, anomaly("s1", "smoke", cell=C, ts=T0 + 30, severity=Level.CRITICAL))
    changed = {c.type: c for c in book.take_anomalies(smoke)}
    fire_case = changed["fire"]
    assert (fire_case.status, fire_case.assignee, fire_case.responsible) == (Status.DISPATCHED, "worker-1", "worker-1")
    assert fire_case.accept_due == T0 + 15 * 60 and changed["smoke"].status is Status.REPORTED
    file, dispatch = book.timeline(fire_case.id)[1:]
    assert (file.actor, dispatch.actor) == ("system:auto-dispatch", "system:auto-dispatch")
    assert dispatch.details_json()["rule"] == "fire-or-smoke-confirmed"
    assert dispatch.details_json()["confirmation"] == "s1" and "neighbouring cell" in dispatch.note


def test_a_cell_without_a_grid_worker_gets_the_case_filed_for_a_dispatcher(book, store):
    book.take_anomalies(stored(store, anomaly("f1", "fire", cell=A, detector="camera", severity=Level.CRITICAL)))
    changed = book.take_anomalies(stored(store, anomaly("s1", "smoke", cell=A, severity=Level.CRITICAL)))
    (fire,) = [c for c in changed if c.type == "fire"]
    assert fire.status is Status.FILED and fire.assignee is None


def test_a_case_a_dispatcher_already_moved_is_left_alone(book, store):
    (fire,) = book.take_anomalies(stored(store, anomaly("f1", "fire", detector="camera", severity=Level.CRITICAL)))
    book.act(fire.id, "cancel", DANA, reason="duplicate")
    book.take_anomalies(stored(store, anomaly("s1", "smoke", severity=Level.CRITICAL)))
    assert book.get(fire.id).status is Status.CANCELLED


def test_no_rules_no_auto_dispatch(store, clock):
    book = CaseBook(store, GRID, CaseSettings(dispatch_rules=[]), clock=clock)
    book.take_anomalies(stored(store, anomaly("f1", "fire", detector="camera", severity=Level.CRITICAL)))
    book.take_anomalies(stored(store, anomaly("s1", "smoke", severity=Level.CRITICAL)))
    assert {c.status for c in store.find_cases(CaseQuery())[0]} == {Status.REPORTED}


# -- people ------------------------------------------------------------------------------------
def test_checks_run_in_order_not_found_action_role_status_fields(book):
    case = book.report(DANA, type_="litter", cell=B)
    worker = Principal("worker-1", Role.GRID_WORKER)
    with pytest.raises(CaseNotFound):
        book.act("C-20000101-0001", "fly", worker)
    with pytest.raises(InvalidTransition, match="one of"):
        book.act(case.id, "fly", worker)
    with pytest.raises(AccessDenied):
        book.act(case.id, "close", worker)  # not the role, whatever the status
    with pytest.raises(IllegalTransition):
        book.act(case.id, "close", DANA)  # the role, not the status
    with pytest.raises(InvalidTransition, match="reason"):
        book.act(case.id, "cancel", DANA)  # the status, not the fields


def test_dispatch_goes_to_the_cell_worker_unless_told_otherwise(book):
    to_worker = book.report(DANA, type_="litter", cell=C)
    book.act(to_worker.id, "file", DANA)
    assert book.act(to_worker.id, "dispatch", DANA).assignee == "worker-2"
    nobody = book.report(DANA, type_="litter", cell=A)
    book.act(nobody.id, "file", DANA)
    with pytest.raises(InvalidTransition, match="no grid worker"):
        book.act(nobody.id, "dispatch", DANA)
    assert book.act(nobody.id, "dispatch", DANA, assignee="li").assignee == "li"


def test_of_two_dispatchers_racing_one_wins_and_the_other_is_told(book):
    case = book.report(DANA, type_="litter", cell=B)
    book.act(case.id, "file", DANA)
    results, barrier = [], threading.Barrier(2)

    def dispatch(name):
        barrier.wait()
        try:
            results.append(book.act(case.id, "dispatch", Principal(name, Role.DISPATCHER)).status)
        except IllegalTransition as exc:
            results.append(exc.allowed)

    threads = [threading.Thread(target=dispatch, args=(n,)) for n in ("dana", "eve")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, results)) == sorted(["dispatched", str(["accept", "reassign"])])
    assert [r.action for r in book.timeline(case.id)].count("dispatch") == 1


def test_reports_are_validated_and_located(book):
    case = book.report(Principal("worker-1", Role.GRID_WORKER), type_="pothole", lat=34.791, lon=114.335,
                       severity="critical", description="deep")
    assert (case.cell_code, case.severity, case.source, case.reporter) == (C, Level.CRITICAL, "manual", "worker-1")
    with pytest.raises(InvalidTransition) as info:
        book.report(DANA, type_="Pot hole", severity="urgent", lat=95, lon=114.3)
    assert {p["field"] for p in info.value.problems} == {"type", "severity", "lat"}
    with pytest.raises(AccessDenied):
        book.report(Principal("vic", Role.VIEWER), type_="pothole", cell=B)


# -- escalation --------------------------------------------------------------------------------
def test_escalation_follows_the_levels_and_the_responsible_party(book, clock):
    case = book.report(DANA, type_="litter", cell=B)  # warning: accept 1 h, township 4 h, county 12 h
    book.act(case.id, "file", DANA)
    book.act(case.id, "dispatch", DANA)
    assert book.next_escalation() == T0 + 3600
    clock.now = T0 + 3599
    assert book.escalate_due() == []
    clock.now = T0 + 3600
    assert book.escalate_due() == []  # at the deadline itself the case is still on time
    clock.now = T0 + 3601
    (township,) = book.escalate_due()
    assert (township.level, township.responsible, township.assignee) == (Tier.TOWNSHIP, "xiangguo-team",
                                                                          "worker-1")
    assert book.escalate_due() == []  # once per deadline
    clock.now = T0 + 3602 + 4 * 3600  # the township's 4 h from its escalation at T0 + 3601, passed
    (county,) = book.escalate_due()
    assert (county.level, county.responsible) == (Tier.COUNTY, "Gulou District desk")
    assert book.next_escalation() is None
    (escalation,) = [r for r in book.timeline(case.id) if r.action == "escalate"][:1]
    assert escalation.actor == "system:escalation" and "acceptance" in escalation.note
    assert book.find(CaseQuery(overdue=True, now=T0 + 17 * 3600 + 3))[1] == 1  # the county has 12 h


def test_a_handled_case_does_not_escalate(book, clock):
    case = book.report(DANA, type_="litter", cell=B)
    book.act(case.id, "file", DANA)
    book.act(case.id, "dispatch", DANA)
    worker = Principal("worker-1", Role.GRID_WORKER)
    book.act(case.id, "accept", worker)
    book.act(case.id, "handle", worker, note="done")
    clock.now = T0 + 10 ** 6
    assert book.escalate_due() == [] and book.next_escalation() is None
