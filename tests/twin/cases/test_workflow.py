"""The case workflow: every legal transition and its effects, every illegal one refused with the
allowed actions, the fields each action needs, and the time limits that drive escalation."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from twin.cases.deadlines import Limits
from twin.cases.workflow import (
    CANCEL_REASONS,
    TRANSITIONS,
    Action,
    Case,
    Status,
    Tier,
    allowed_actions,
    new_case,
    transition,
)
from twin.errors import IllegalTransition, InvalidTransition
from twin.sensing.catalog import Level

T0 = 1_795_939_200.0
CELL = "410204001001001"
LIMITS = Limits(accept=900, handle=7200, township=1800, county=3600)
S, A = Status, Action

# The whole workflow, written out once more by hand: (from, action) -> to. A change to
# twin/cases/workflow.py that this table does not also make fails here.
LEGAL = {
    (S.REPORTED, A.FILE): S.FILED,
    (S.REPORTED, A.CANCEL): S.CANCELLED,
    (S.REPORTED, A.REASSIGN): S.REPORTED,  # who it will go to, before it is dispatched
    (S.REPORTED, A.MERGE): S.REPORTED,
    (S.FILED, A.DISPATCH): S.DISPATCHED,  # the time limit starts
    (S.FILED, A.REASSIGN): S.FILED,
    (S.FILED, A.MERGE): S.FILED,
    (S.DISPATCHED, A.ACCEPT): S.ACCEPTED,
    (S.DISPATCHED, A.REASSIGN): S.DISPATCHED,
    (S.DISPATCHED, A.ESCALATE): S.DISPATCHED,
    (S.DISPATCHED, A.MERGE): S.DISPATCHED,
    (S.ACCEPTED, A.HANDLE): S.HANDLED,
    (S.ACCEPTED, A.REASSIGN): S.DISPATCHED,  # the new assignee must accept
    (S.ACCEPTED, A.ESCALATE): S.ACCEPTED,
    (S.ACCEPTED, A.MERGE): S.ACCEPTED,
    (S.HANDLED, A.CLOSE): S.CLOSED,  # verified
    (S.HANDLED, A.REOPEN): S.REOPENED,  # not verified
    (S.HANDLED, A.MERGE): S.HANDLED,
    (S.REOPENED, A.DISPATCH): S.DISPATCHED,
    (S.REOPENED, A.REASSIGN): S.REOPENED,
    (S.REOPENED, A.MERGE): S.REOPENED,
    (S.CLOSED, A.EVALUATE): S.EVALUATED,
}

# What each action needs to be valid (besides being legal in the status).
FIELDS = {
    A.FILE: {},
    A.CANCEL: {"reason": "false_alarm"},
    A.DISPATCH: {"assignee": "worker-1"},
    A.REASSIGN: {"assignee": "worker-2"},
    A.ACCEPT: {},
    A.HANDLE: {"note": "cleared the drain", "photo_url": "https://photos.local/1.jpg"},
    A.CLOSE: {},
    A.REOPEN: {"note": "still flooded"},
    A.EVALUATE: {"satisfaction": 4},
    A.ESCALATE: {},
    A.MERGE: {"severity": Level.CRITICAL, "anomaly_ts": T0 + 5},
}


def case_in(status: Status, **kw) -> Case:
    base = dict(id="C-20261129-0001", type="waterlogging", severity=Level.WARNING, cell_code=CELL, status=status,
                created_at=T0, updated_at=T0, assignee="worker-1", version=3)
    if status in (S.DISPATCHED, S.ACCEPTED):
        base |= dict(accept_due=T0 + 900, handle_due=T0 + 7200, escalate_at=T0 + 900,
                     due_at=T0 + 900 if status is S.DISPATCHED else T0 + 7200)
    return Case(**(base | kw))


def act(case: Case, action: Action, now: float = T0 + 60, **fields):
    fields = {**FIELDS[action], **fields}
    note = fields.pop("note", "")
    return transition(case, action, actor="dana", now=now, limits=LIMITS, note=note, **fields)


def test_the_table_here_is_the_workflow():
    table = {(s, a): to for s, actions in TRANSITIONS.items() for a, to in actions.items()}
    assert table == LEGAL


@pytest.mark.parametrize("status, action", sorted(LEGAL, key=str), ids=lambda v: str(v))
def test_every_legal_transition_reaches_its_status_and_is_audited(status, action):
    case = case_in(status)
    changed, entry = act(case, action)
    assert changed.status is LEGAL[(status, action)]
    assert changed.updated_at == T0 + 60 and changed.version == case.version  # the store counts versions
    assert (entry.action, entry.from_status, entry.to_status) == (action.value, status.value, changed.status.value)
    assert entry.actor == "dana" and entry.at == T0 + 60 and entry.subject_id == case.id
    assert Case.from_record(entry.snapshot) == dataclasses.replace(changed, version=0)


ILLEGAL = [(s, a) for s, a in itertools.product(Status, Action) if (s, a) not in LEGAL and a is not A.REPORT]


def test_the_illegal_pairs_are_every_other_pair():
    assert len(ILLEGAL) == len(Status) * (len(Action) - 1) - len(LEGAL) == 77


@pytest.mark.parametrize("status, action", ILLEGAL, ids=lambda v: str(v))
def test_every_illegal_transition_is_refused_with_the_allowed_actions(status, action):
    case = case_in(status)
    with pytest.raises(IllegalTransition) as info:
        act(case, action)
    error = info.value
    assert error.allowed == allowed_actions(status)
    assert error.allowed == [a.value for a in TRANSITIONS[status] if not a.system]
    assert (error.status, error.action) == (status.value, action.value)
    assert f"case {case.id} is {status}" in str(error)


def test_finished_cases_allow_nothing_and_say_so():
    for status in (S.CANCELLED, S.EVALUATED):
        assert allowed_actions(status) == []
        with pytest.raises(IllegalTransition, match="nothing"):
            act(case_in(status), A.FILE)


def test_allowed_actions_never_list_system_actions():
    for status in Status:
        assert not {"merge", "escalate", "report"} & set(allowed_actions(status))


def test_an_unknown_action_is_invalid_not_illegal():
    with pytest.raises(InvalidTransition, match="'fly' is not an action"):
        transition(case_in(S.REPORTED), "fly", actor="dana", now=T0, limits=LIMITS)


# -- fields -------------------------------------------------------------------------
BAD_FIELDS = [
    # cancel needs a reason
    (S.REPORTED, A.CANCEL, {"reason": None}, "reason"),
    # and the reason is one of the kept list
    (S.REPORTED, A.CANCEL, {"reason": "bored"}, "reason"),
    # handling needs feedback
    (S.ACCEPTED, A.HANDLE, {"note": ""}, "note"),
    # a photo is a web address
    (S.ACCEPTED, A.HANDLE, {"photo_url": "ftp://x/1.jpg"}, "photo_url"),
    # reopening says why
    (S.HANDLED, A.REOPEN, {"note": "  "}, "note"),
    # satisfaction is 1-5
    (S.CLOSED, A.EVALUATE, {"satisfaction": 6}, "satisfaction"),
    # and a whole number
    (S.CLOSED, A.EVALUATE, {"satisfaction": 4.5}, "satisfaction"),
    # not a boolean
    (S.CLOSED, A.EVALUATE, {"satisfaction": True}, "satisfaction"),
    # reassigning needs someone
    (S.DISPATCHED, A.REASSIGN, {"assignee": None}, "assignee"),
    # someone else
    (S.DISPATCHED, A.REASSIGN, {"assignee": "worker-1"}, "assignee"),
    # a field another action takes
    (S.REPORTED, A.FILE, {"satisfaction": 5}, "satisfaction"),
    # a reason belongs to cancel only
    (S.FILED, A.DISPATCH, {"reason": "duplicate"}, "reason"),
    # notes have a size
    (S.REPORTED, A.FILE, {"note": "x" * 4001}, "note"),
    (S.DISPATCHED, A.REASSIGN, {"assignee": "w" * 201}, "assignee"),
    (S.ACCEPTED, A.HANDLE, {"photo_url": "https://p/" + "x" * 1991}, "photo_url"),
    (S.CLOSED, A.EVALUATE, {"satisfaction": 0}, "satisfaction"),
]

# The largest and smallest values each field takes.
EDGE_FIELDS = [
    (S.REPORTED, A.FILE, {"note": "x" * 4000}),
    (S.DISPATCHED, A.REASSIGN, {"assignee": "w" * 200}),
    (S.ACCEPTED, A.HANDLE, {"photo_url": "https://p/" + "x" * 1990}),  # 2000 characters
    (S.CLOSED, A.EVALUATE, {"satisfaction": 1}),
    (S.CLOSED, A.EVALUATE, {"satisfaction": 5}),
]


@pytest.mark.parametrize("status, action, fields", EDGE_FIELDS)
def test_fields_at_their_limits_are_taken(status, action, fields):
    changed, entry = act(case_in(status), action, **fields)
    assert changed.status is LEGAL[(status, action)]
    if "satisfaction" in fields:
        assert changed.satisfaction == entry.details["satisfaction"] == fields["satisfaction"]


@pytest.mark.parametrize("status, action, fields, field", BAD_FIELDS)
def test_invalid_fields_are_listed_by_name(status, action, fields, field):
    with pytest.raises(InvalidTransition) as info:
        act(case_in(status), action, **fields)
    assert field in [p["field"] for p in info.value.problems]


def test_dispatch_without_anyone_to_send_it_to_is_invalid():
    with pytest.raises(InvalidTransition, match="no grid worker"):
        transition(case_in(S.FILED, assignee=None), A.DISPATCH, actor="dana", now=T0, limits=LIMITS)


def test_cancel_keeps_its_reason():
    for reason in CANCEL_REASONS:
        changed, entry = act(case_in(S.REPORTED), A.CANCEL, reason=reason)
        assert changed.cancel_reason == reason and changed.cancelled_at == T0 + 60
        assert entry.details == {"reason": reason}


# -- time limits ----------------------------------------------------------------------
def test_dispatch_starts_the_accept_and_handle_limits():
    changed, entry = act(case_in(S.FILED, assignee=None), A.DISPATCH, now=T0 + 100)
    assert changed.assignee == "worker-1" and changed.dispatched_at == T0 + 100
    assert (changed.accept_due, changed.handle_due) == (T0 + 1000, T0 + 7300)
    assert changed.due_at == changed.escalate_at == T0 + 1000
    assert entry.details == {"assignee": "worker-1"}


def test_accepting_moves_the_deadline_to_handling_and_handling_stops_the_clock():
    dispatched = case_in(S.DISPATCHED)
    accepted, _ = act(dispatched, A.ACCEPT, now=T0 + 300)
    assert accepted.due_at == accepted.escalate_at == T0 + 7200 and not accepted.late
    handled, _ = act(accepted, A.HANDLE, now=T0 + 3000)
    assert handled.due_at is None and handled.escalate_at is None and not handled.late
    assert handled.feedback == "cleared the drain" and handled.photo_url == "https://photos.local/1.jpg"


def test_acting_after_the_deadline_makes_the_case_late():
    accepted, _ = act(case_in(S.DISPATCHED), A.ACCEPT, now=T0 + 901)
    assert accepted.late


def test_acting_exactly_at_the_deadline_is_on_time():
    accepted, _ = act(case_in(S.DISPATCHED), A.ACCEPT, now=T0 + 900)  # accept due at T0 + 900
    assert not accepted.late
    handled, _ = act(accepted, A.HANDLE, now=T0 + 7200)  # handle due at T0 + 7200
    assert not handled.late
    assert act(case_in(S.DISPATCHED), A.ACCEPT, now=T0 + 900.001)[0].late
    assert act(accepted, A.HANDLE, now=T0 + 7200.001)[0].late


def test_escalation_goes_grid_township_county_then_stops():
    case = case_in(S.DISPATCHED)
    township, entry = transition(case, A.ESCALATE, actor="system:escalation", now=T0 + 900, limits=LIMITS,
                                 responsible="Xiangguo team")
    assert township.level is Tier.TOWNSHIP and township.escalations == 1 and township.late
    assert township.due_at == township.escalate_at == T0 + 900 + 1800
    assert township.responsible == "Xiangguo team" and township.assignee == "worker-1"
    assert entry.details == {"from_level": "grid", "to_level": "township", "missed_due": T0 + 900}
    county, _ = transition(township, A.ESCALATE, actor="system:escalation", now=T0 + 2700, limits=LIMITS)
    assert county.level is Tier.COUNTY and county.escalations == 2
    assert county.due_at == T0 + 2700 + 3600 and county.escalate_at is None  # the backstop
    with pytest.raises(IllegalTransition):
        transition(county, A.ESCALATE, actor="system:escalation", now=T0 + 9999, limits=LIMITS)


def test_each_step_records_its_time():
    assert act(case_in(S.REPORTED), A.FILE, now=T0 + 10)[0].filed_at == T0 + 10
    assert act(case_in(S.DISPATCHED), A.ACCEPT, now=T0 + 20)[0].accepted_at == T0 + 20
    assert act(case_in(S.ACCEPTED), A.HANDLE, now=T0 + 30)[0].handled_at == T0 + 30
    assert act(case_in(S.HANDLED), A.CLOSE, now=T0 + 40)[0].closed_at == T0 + 40


def test_reassigning_at_an_upper_level_keeps_that_level_s_deadline():
    township = case_in(S.ACCEPTED, level=Tier.TOWNSHIP, due_at=T0 + 5000, escalate_at=T0 + 5000)
    changed, _ = act(township, A.REASSIGN, now=T0 + 100)
    assert changed.status is S.DISPATCHED and changed.due_at == changed.escalate_at == T0 + 5000
    assert changed.accept_due == T0 + 900  # the grid level's, from before the escalation


def test_accepting_at_an_upper_level_keeps_that_level_s_deadline():
    township = case_in(S.DISPATCHED, level=Tier.TOWNSHIP, due_at=T0 + 5000, escalate_at=T0 + 5000)
    accepted, _ = act(township, A.ACCEPT)
    assert accepted.due_at == accepted.escalate_at == T0 + 5000


def test_reassigning_gives_the_new_worker_the_full_accept_time_but_not_more_handle_time():
    accepted = case_in(S.ACCEPTED)
    changed, entry = act(accepted, A.REASSIGN, now=T0 + 7000)
    assert changed.status is S.DISPATCHED and changed.assignee == "worker-2"
    assert changed.accept_due == changed.due_at == T0 + 7200  # capped at the handle deadline
    assert changed.handle_due == T0 + 7200
    assert entry.details == {"assignee": "worker-2", "previous_assignee": "worker-1"}


def test_a_reopened_case_dispatched_again_gets_fresh_limits_at_its_level():
    reopened = case_in(S.REOPENED, level=Tier.TOWNSHIP, dispatched_at=T0 - 50)
    changed, _ = act(reopened, A.DISPATCH, now=T0 + 100)
    assert changed.dispatched_at == T0 - 50  # time to dispatch counts the first dispatch
    assert changed.due_at == changed.escalate_at == T0 + 100 + 1800


def test_merge_counts_anomalies_and_raises_the_severity():
    case = case_in(S.FILED, anomaly_count=1, last_anomaly_at=T0)
    merged, entry = act(case, A.MERGE)
    assert merged.anomaly_count == 2 and merged.severity is Level.CRITICAL and merged.last_anomaly_at == T0 + 5
    assert entry.details == {"severity": "critical"}


def test_evaluation_records_satisfaction():
    evaluated, _ = act(case_in(S.CLOSED), A.EVALUATE, satisfaction=5)
    assert evaluated.satisfaction == 5 and evaluated.evaluated_at == T0 + 60


def test_a_new_case_is_reported_with_its_entry():
    case, entry = new_case(type_="fire", severity=Level.CRITICAL, cell_code=CELL, now=T0, anomaly_ts=T0 - 2,
                           note="camera cam-1 detected fire", responsible="worker-1")
    assert case.status is S.REPORTED and case.level is Tier.GRID and case.anomaly_count == 1
    assert (entry.action, entry.from_status, entry.to_status) == ("report", None, "reported")
    assert entry.note == "camera cam-1 detected fire" and case.responsible == "worker-1"


def test_overdue_needs_an_open_case_past_its_deadline():
    assert case_in(S.DISPATCHED).overdue(T0 + 901)
    assert not case_in(S.DISPATCHED).overdue(T0 + 899)
    assert not case_in(S.DISPATCHED).overdue(T0 + 900)  # at its deadline a case is still on time
    assert case_in(S.DISPATCHED).overdue(T0 + 900.001)
    assert not case_in(S.CLOSED, due_at=T0).overdue(T0 + 1)
