"""The case desk's escalation scheduler and relay, driven by a manual clock on a real SQLite store:
an escalation fires at its deadline and not before, a deadline set by another process is
noticed, and a new desk on the same store (a restart) fires what came due meanwhile at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
import pytest

from gateway.casedesk import CaseDesk
from gateway.clock import ManualClock
from tests.gateway.conftest import A, B, small_grid
from twin.cases.book import CaseBook
from twin.cases.workflow import Status, Tier
from twin.config import Settings
from twin.contract import schemas
from twin.people.access import Principal
from twin.people.users import Role
from twin.store import open_store

T0 = 1_795_939_200.0
DANA = Principal("dana", Role.DISPATCHER)


@pytest.fixture(autouse=True)
def no_logged_errors(caplog):
    """Fail a test whose background work only logged an error."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "errors were logged: " + "; ".join(r.getMessage() for r in errors)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings().replace(
        store={"url": f"sqlite:///{tmp_path}/twin.db"},
        cases={"relay_interval_s": 0.02, "limits": {"warning": {"accept": 900, "handle": 7200, "township": 1800,
                                                                 "county": 3600}}},
        responsibility={"workers": {A: "worker-a", B: "worker-b"}, "teams": {A[:9]: "street-1-team"}},
    )


@pytest.fixture
def store(settings):
    store = open_store(settings.store.url)
    store.migrate()
    store.put_grid(small_grid())
    yield store
    store.close()


class Outbox:
    """Stands in for the transport: what the desk published, decoded."""

    def __init__(self):
        self.messages: list[tuple[str, dict]] = []

    def __call__(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        assert qos == 1 and not retain
        self.messages.append((topic, orjson.loads(payload)))

    def actions(self, case_id: str) -> list[str]:
        return [e["data"]["action"] for _, e in self.messages if e["subject"] == case_id]


@contextlib.asynccontextmanager
async def running_desk(settings, store, clock, outbox):
    desk = CaseDesk(settings, store, small_grid(), outbox, source="gridtwin/gateway/test", clock=clock)
    task = asyncio.create_task(desk.run())
    try:
        yield desk
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(predicate, timeout: float = 5.0):
    for _ in range(int(timeout / 0.01)):
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def dispatched_case(settings, store, clock, cell=A) -> str:
    """A case reported, filed and dispatched by a dispatcher through another CaseBook (as the web app would)."""
    book = CaseBook(store, small_grid(), settings.cases, settings.responsibility, clock=clock.now)
    case = book.report(DANA, type_="litter", cell=cell)
    book.act(case.id, "file", DANA)
    return book.act(case.id, "dispatch", DANA).id


async def test_an_escalation_fires_once_its_deadline_has_passed_and_not_before(settings, store):
    clock, outbox = ManualClock(T0), Outbox()
    async with running_desk(settings, store, clock, outbox) as desk:
        await until(lambda: desk.cursor is not None)
        case_id = dispatched_case(settings, store, clock)  # accept due at T0 + 900
        await until(lambda: outbox.actions(case_id) == ["report", "file", "dispatch"])
        clock.set(T0 + 899.999)
        await asyncio.sleep(0.2)
        assert store.get_case(case_id).level is Tier.GRID and desk.escalations == 0
        clock.set(T0 + 900)  # at the deadline itself the case is still on time
        await asyncio.sleep(0.2)
        assert store.get_case(case_id).level is Tier.GRID and desk.escalations == 0
        clock.set(T0 + 900.25)
        await until(lambda: store.get_case(case_id).level is Tier.TOWNSHIP)
        case = store.get_case(case_id)
        assert case.responsible == "street-1-team" and case.assignee == "worker-a" and case.late
        assert case.due_at == case.escalate_at == T0 + 900.25 + 1800
        await until(lambda: outbox.actions(case_id)[-1:] == ["escalate"])
        topic, event = outbox.messages[-1]
        assert topic == f"gridtwin/v1/cases/410204/{case_id}" and event["type"] == "org.gridtwin.case.escalated"
        schemas.validate_event(event)
        data = event["data"]
        assert data["at"] == "2026-11-29T08:15:00.250Z" and data["actor"] == "system:escalation"
        assert data["details"] == {"from_level": "grid", "to_level": "township", "missed_due": T0 + 900}
        assert data["case"]["level"] == "township" and "acceptance" in data["note"]
        clock.set(T0 + 2701)  # the township's limit passes: the county, the backstop
        await until(lambda: store.get_case(case_id).level is Tier.COUNTY)
        assert store.get_case(case_id).escalate_at is None and desk.escalations == 2
        clock.set(T0 + 10 ** 6)
        await asyncio.sleep(0.1)
        assert store.get_case(case_id).escalations == 2  # nothing above the county


async def test_a_deadline_set_elsewhere_wakes_the_scheduler(settings, store):
    clock, outbox = ManualClock(T0), Outbox()
    async with running_desk(settings, store, clock, outbox) as desk:
        await until(lambda: desk.cursor is not None)
        late = dispatched_case(settings, store, clock, cell=B)  # due T0 + 900
        await until(lambda: len(outbox.actions(late)) == 3)
        clock.set(T0 + 500)
        early = dispatched_case(settings, store, clock)  # due T0 + 1400; then accepted: due T0 + 7200
        book = CaseBook(store, small_grid(), settings.cases, settings.responsibility, clock=clock.now)
        book.act(late, "accept", Principal("worker-b", Role.GRID_WORKER))  # the early deadline goes away
        await until(lambda: outbox.actions(late)[-1:] == ["accept"])
        clock.set(T0 + 1401)
        await until(lambda: store.get_case(early).level is Tier.TOWNSHIP)
        assert store.get_case(late).level is Tier.GRID


async def test_after_a_restart_overdue_escalations_fire_at_once_and_missed_updates_are_published(settings, store):
    clock, outbox = ManualClock(T0), Outbox()
    async with running_desk(settings, store, clock, outbox) as desk:
        await until(lambda: desk.cursor is not None)
        case_id = dispatched_case(settings, store, clock)
        await until(lambda: len(outbox.actions(case_id)) == 3)
    # Down: a dispatcher reassigns in the web app, and the accept limit passes.
    clock.set(T0 + 100)
    book = CaseBook(store, small_grid(), settings.cases, settings.responsibility, clock=clock.now)
    book.act(case_id, "reassign", DANA, assignee="worker-c")  # accept due T0 + 1000 now
    clock.set(T0 + 5000)
    restarted = Outbox()
    async with running_desk(settings, store, clock, restarted):
        # At once: the missed grid limit. The township's own limit then starts now, at the restart.
        await until(lambda: restarted.actions(case_id) == ["reassign", "escalate"])
        case = store.get_case(case_id)
        assert case.level is Tier.TOWNSHIP and case.status is Status.DISPATCHED and case.assignee == "worker-c"
        assert case.due_at == T0 + 5000 + 1800
        (escalated,) = [e["data"] for _, e in restarted.messages if e["data"]["action"] == "escalate"]
        assert escalated["at"] == "2026-11-29T09:23:20.000Z"  # T0 + 5000: the restart, not the old deadline
        assert escalated["details"]["missed_due"] == T0 + 1000
        clock.set(T0 + 6801)  # the township's 30 min from the restart, passed
        await until(lambda: store.get_case(case_id).level is Tier.COUNTY)
    assert not [m for m in outbox.messages if m[1]["data"]["action"] == "escalate"]  # none before the restart


async def test_a_new_desk_starts_at_the_end_of_the_log_and_opens_cases_for_anomalies_it_missed(settings, store):
    from twin.sensing.anomalies import Anomaly
    from twin.sensing.catalog import Level

    clock, outbox = ManualClock(T0), Outbox()
    dispatched_case(settings, store, clock)  # history from before this gateway existed: not replayed
    missed = Anomaly("an-9", "pm25_high", "opened", Level.WARNING, B, "aq-2", "threshold", T0 - 60, "PM2.5 high")
    store.write_anomalies([missed])  # stored, but the process stopped before opening its case
    async with running_desk(settings, store, clock, outbox) as desk:
        await until(lambda: outbox.messages)
        await asyncio.sleep(0.1)
        assert [e["data"]["action"] for _, e in outbox.messages] == ["report"]
        assert outbox.messages[0][1]["data"]["details"]["anomaly_id"] == "an-9"
        assert desk.cursor == store.last_audit_seq()
