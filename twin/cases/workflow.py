"""Cases and their closed loop: the statuses, the actions between them and their effects.

    reported --file--> filed --dispatch--> dispatched --accept--> accepted --handle--> handled
        |                                      ^                                      |    |
        +--cancel--> cancelled                 +------dispatch---- reopened <--reopen-+    |
                                                                                           close
    evaluated <--evaluate-- closed <-------------------------------------------------------+

`TRANSITIONS` is the whole workflow, one table: status -> action -> next status. Three
actions only the system takes: `merge` (another anomaly joins an open case), `escalate`
(a time limit passed) and `report` (the case is created). `transition` is pure: it
returns the changed case and the audit entry saying what changed, or raises
IllegalTransition (listing the allowed actions) or InvalidTransition (fields).

Time limits start at dispatch: while dispatched at the grid level the case waits for
acceptance (`accept_due`), then for handling (`handle_due`). A missed limit escalates
it grid -> township -> county; each level above the grid has one limit of its own to
get the case handled. `due_at` is the deadline that counts now; `escalate_at` is when
the case escalates next (none at the county, the backstop). `late` is set once any
limit was missed, and the on-time rate counts the cases where it never was.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field
from typing import Any

from twin.cases.deadlines import Limits
from twin.errors import IllegalTransition, InvalidTransition
from twin.people.audit import AuditEntry
from twin.sensing.catalog import Level

__all__ = [
    "Action", "Case", "CaseQuery", "CANCEL_REASONS", "Status", "Tier", "TRANSITIONS", "allowed_actions", "new_case",
    "transition", "SYSTEM_ACTOR",
]  # fmt: skip

SYSTEM_ACTOR = "system"
CASE_TYPE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
MAX_NOTE = 4000
MAX_URL = 2000


class Status(enum.StrEnum):
    REPORTED = "reported"
    FILED = "filed"
    CANCELLED = "cancelled"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    HANDLED = "handled"
    REOPENED = "reopened"
    CLOSED = "closed"
    EVALUATED = "evaluated"

    @property
    def open(self) -> bool:
        """Still being worked on: not cancelled, closed or evaluated."""
        return self not in (Status.CANCELLED, Status.CLOSED, Status.EVALUATED)


OPEN_STATUSES = tuple(s for s in Status if s.open)


class Action(enum.StrEnum):
    REPORT = "report"
    MERGE = "merge"
    FILE = "file"
    CANCEL = "cancel"
    DISPATCH = "dispatch"
    REASSIGN = "reassign"
    ACCEPT = "accept"
    HANDLE = "handle"
    CLOSE = "close"
    REOPEN = "reopen"
    EVALUATE = "evaluate"
    ESCALATE = "escalate"

    @property
    def system(self) -> bool:
        """Taken by GridTwin itself, never through POST /api/cases/{id}/transitions."""
        return self in (Action.REPORT, Action.MERGE, Action.ESCALATE)

    @property
    def past(self) -> str:
        """The event name: `org.gridtwin.case.<past>` ('dispatched', 'escalated', ...)."""
        return _PAST[self]


_PAST = {
    Action.REPORT: "reported", Action.MERGE: "merged", Action.FILE: "filed", Action.CANCEL: "cancelled",
    Action.DISPATCH: "dispatched", Action.REASSIGN: "reassigned", Action.ACCEPT: "accepted",
    Action.HANDLE: "handled", Action.CLOSE: "closed", Action.REOPEN: "reopened", Action.EVALUATE: "evaluated",
    Action.ESCALATE: "escalated",
}  # fmt: skip


class Tier(enum.StrEnum):
    """The level responsible for a case: the grid worker, the township team, the county desk."""

    GRID = "grid"
    TOWNSHIP = "township"
    COUNTY = "county"

    def above(self) -> "Tier | None":
        order = list(Tier)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


CANCEL_REASONS = ("false_alarm", "duplicate", "out_of_scope")

S, A = Status, Action
TRANSITIONS: dict[Status, dict[Action, Status]] = {
    S.REPORTED: {A.FILE: S.FILED, A.CANCEL: S.CANCELLED, A.REASSIGN: S.REPORTED, A.MERGE: S.REPORTED},
    S.FILED: {A.DISPATCH: S.DISPATCHED, A.REASSIGN: S.FILED, A.MERGE: S.FILED},
    S.DISPATCHED: {A.ACCEPT: S.ACCEPTED, A.REASSIGN: S.DISPATCHED, A.ESCALATE: S.DISPATCHED, A.MERGE: S.DISPATCHED},
    # A new assignee must accept again: reassigning an accepted case sends it back to dispatched.
    S.ACCEPTED: {A.HANDLE: S.HANDLED, A.REASSIGN: S.DISPATCHED, A.ESCALATE: S.ACCEPTED, A.MERGE: S.ACCEPTED},
    # Handled work waits for verification: to send it back, reopen it, then dispatch it.
    S.HANDLED: {A.CLOSE: S.CLOSED, A.REOPEN: S.REOPENED, A.MERGE: S.HANDLED},
    S.REOPENED: {A.DISPATCH: S.DISPATCHED, A.REASSIGN: S.REOPENED, A.MERGE: S.REOPENED},
    S.CLOSED: {A.EVALUATE: S.EVALUATED},
    S.CANCELLED: {},
    S.EVALUATED: {},
}
del S, A

# The fields each action takes besides `note`; `required` ones must be given.
FIELDS: dict[Action, tuple[str, ...]] = {
    Action.CANCEL: ("reason",),
    Action.DISPATCH: ("assignee",),
    Action.REASSIGN: ("assignee",),
    Action.HANDLE: ("photo_url",),
    Action.EVALUATE: ("satisfaction",),
}
REQUIRED: dict[Action, tuple[str, ...]] = {
    Action.CANCEL: ("reason",),
    Action.REASSIGN: ("assignee",),
    Action.HANDLE: ("note",),  # the feedback
    Action.REOPEN: ("note",),  # why the handling was not accepted
    Action.EVALUATE: ("satisfaction",),
}


def allowed_actions(status: Status) -> list[str]:
    """What people may do to a case in `status`, in workflow order."""
    return [a.value for a in TRANSITIONS[Status(status)] if not a.system]


@dataclass(frozen=True, slots=True)
class Case:
    """One case. Times are Unix epoch seconds; `version` counts the stored changes."""

    id: str
    type: str
    severity: Level
    cell_code: str
    status: Status = Status.REPORTED
    level: Tier = Tier.GRID
    assignee: str | None = None
    responsible: str | None = None  # who answers for it at its level: the worker, the team or the desk
    source: str = "anomaly"  # "anomaly" or "manual"
    reporter: str = SYSTEM_ACTOR
    title: str = ""
    description: str = ""
    lat: float | None = None
    lon: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    last_anomaly_at: float | None = None
    anomaly_count: int = 0
    filed_at: float | None = None
    dispatched_at: float | None = None  # the first dispatch: time to dispatch counts to it
    accepted_at: float | None = None
    handled_at: float | None = None
    closed_at: float | None = None
    evaluated_at: float | None = None
    cancelled_at: float | None = None
    cancel_reason: str | None = None
    accept_due: float | None = None
    handle_due: float | None = None
    due_at: float | None = None
    escalate_at: float | None = None
    escalations: int = 0
    late: bool = False
    satisfaction: int | None = None
    feedback: str = ""
    photo_url: str | None = None
    version: int = 0

    @property
    def district(self) -> str:
        return self.cell_code[:6]

    @property
    def is_open(self) -> bool:
        return self.status.open

    def overdue(self, now: float) -> bool:
        """Open with a deadline that has passed."""
        return self.is_open and self.due_at is not None and self.due_at < now

    def record(self) -> dict:
        """Every field but `version` as plain JSON values: the snapshot kept in the audit log."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "version"}
        out["severity"] = self.severity.label
        out["status"] = str(self.status)
        out["level"] = str(self.level)
        return out

    @classmethod
    def from_record(cls, record: dict) -> "Case":
        values = dict(record)
        values["severity"] = Level.parse(values["severity"])
        values["status"] = Status(values["status"])
        values["level"] = Tier(values["level"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """Filters of a case list; empty ones do not filter. `overdue` needs `now`."""

    statuses: tuple[Status, ...] = ()
    cells: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    assignee: str | None = None
    level: Tier | None = None
    overdue: bool | None = None
    now: float | None = None
    limit: int = 100
    offset: int = 0


def new_case(*, type_: str, severity: Level, cell_code: str, now: float, actor: str = SYSTEM_ACTOR,
             source: str = "anomaly", title: str = "", description: str = "", lat: float | None = None,
             lon: float | None = None, anomaly_ts: float | None = None, responsible: str | None = None,
             note: str = "", details: dict | None = None) -> tuple[Case, AuditEntry]:
    """A reported case (its id is given by the store) and its `report` entry."""
    case = Case(
        id="", type=type_, severity=severity, cell_code=cell_code, source=source, reporter=actor, title=title,
        description=description, lat=lat, lon=lon, created_at=now, updated_at=now, last_anomaly_at=anomaly_ts,
        anomaly_count=1 if anomaly_ts is not None else 0, responsible=responsible,
    )
    return case, _entry(case, Action.REPORT, None, actor, now, note or description, details or {})


def _entry(case: Case, action: Action, from_status: Status | None, actor: str, now: float, note: str,
           details: dict) -> AuditEntry:
    return AuditEntry(at=now, actor=actor, action=str(action), subject="case", subject_id=case.id,
                      from_status=None if from_status is None else str(from_status), to_status=str(case.status),
                      note=note, details=details, snapshot=case.record())


def check_fields(action: Action, fields: dict[str, Any], note: str) -> list[dict]:
    """Every problem with an action's fields, as {field, message}; empty when they are fine."""
    problems = []
    allowed = FIELDS.get(action, ())
    for name in sorted(set(fields) - set(allowed)):
        takes = f"takes {', '.join(allowed)}" if allowed else "takes only a note"
        problems.append({"field": name, "message": f"{action} {takes}"})
    given = {name for name, value in fields.items() if value not in (None, "")} | ({"note"} if note.strip() else set())
    for name in REQUIRED.get(action, ()):
        if name not in given:
            problems.append({"field": name, "message": f"required for {action}"})
    if len(note) > MAX_NOTE:
        problems.append({"field": "note", "message": f"at most {MAX_NOTE} characters"})
    reason = fields.get("reason")
    if reason is not None and reason not in CANCEL_REASONS:
        problems.append({"field": "reason", "message": f"one of {', '.join(CANCEL_REASONS)}"})
    assignee = fields.get("assignee")
    if assignee is not None and (not isinstance(assignee, str) or not assignee.strip() or len(assignee) > 200):
        problems.append({"field": "assignee", "message": "a user or worker name (1-200 characters)"})
    photo = fields.get("photo_url")
    if photo is not None and (not isinstance(photo, str) or not re.match(r"^https?://\S+$", photo) or len(photo) > MAX_URL):
        problems.append({"field": "photo_url", "message": f"an http(s) URL of at most {MAX_URL} characters"})
    score = fields.get("satisfaction")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5):
        problems.append({"field": "satisfaction", "message": "a whole number from 1 to 5"})
    return problems


def transition(case: Case, action: Action | str, *, actor: str, now: float, limits: Limits, note: str = "",
               responsible: str | None = None, details: dict | None = None,
               **fields: Any) -> tuple[Case, AuditEntry]:
    """Apply `action` to `case`: the changed case and its audit entry.

    `responsible` is who answers for the case after the change (the caller looks it up:
    the assignee at the grid level, the team or desk above). `fields` are the action's
    own: reason (cancel), assignee (dispatch, reassign), photo_url (handle),
    satisfaction (evaluate). Raises IllegalTransition or InvalidTransition.
    """
    try:
        action = Action(action)
    except ValueError:
        raise InvalidTransition([{"field": "action", "message": f"{action!r} is not an action; one of "
                                  f"{', '.join(a.value for a in Action if not a.system)}"}]) from None
    target = TRANSITIONS[case.status].get(action)
    if target is None:
        raise IllegalTransition(case.id, str(case.status), str(action), allowed_actions(case.status))
    fields = {k: v for k, v in fields.items() if v is not None}
    if not action.system:
        problems = check_fields(action, fields, note)
        if problems:
            raise InvalidTransition(problems)
    details = dict(details or {})
    change: dict[str, Any] = {"status": target, "updated_at": now}
    late = case.due_at is not None and now > case.due_at

    if action is Action.FILE:
        change["filed_at"] = now
    elif action is Action.CANCEL:
        change |= {"cancelled_at": now, "cancel_reason": fields["reason"], **_no_clock()}
        details["reason"] = fields["reason"]
    elif action is Action.DISPATCH:
        assignee = fields.get("assignee") or case.assignee
        if not assignee:
            raise InvalidTransition([{"field": "assignee", "message": "required: the cell has no grid worker"}])
        change |= {"assignee": assignee, "dispatched_at": case.dispatched_at or now, **_dispatch_clock(case, now, limits)}
        details["assignee"] = assignee
    elif action is Action.REASSIGN:
        if fields["assignee"] == case.assignee:
            raise InvalidTransition([{"field": "assignee", "message": f"the case is already assigned to {case.assignee}"}])
        change["assignee"] = fields["assignee"]
        details |= {"assignee": fields["assignee"], "previous_assignee": case.assignee}
        if target is Status.DISPATCHED and case.level is Tier.GRID:
            # The new assignee gets the full time to accept; the time to handle does not move.
            accept_due = min(now + limits.accept, case.handle_due or now + limits.handle)
            change |= {"accept_due": accept_due, "due_at": accept_due, "escalate_at": accept_due}
    elif action is Action.ACCEPT:
        change["accepted_at"] = now
        if case.level is Tier.GRID:
            change |= {"due_at": case.handle_due, "escalate_at": case.handle_due}
        change["late"] = case.late or late
    elif action is Action.HANDLE:
        change |= {"handled_at": now, "feedback": note, "photo_url": fields.get("photo_url"),
                   "late": case.late or late, **_no_clock()}
        if fields.get("photo_url"):
            details["photo_url"] = fields["photo_url"]
    elif action is Action.CLOSE:
        change["closed_at"] = now
    elif action is Action.REOPEN:
        change |= _no_clock()
    elif action is Action.EVALUATE:
        change |= {"evaluated_at": now, "satisfaction": fields["satisfaction"]}
        details["satisfaction"] = fields["satisfaction"]
    elif action is Action.ESCALATE:
        above = case.level.above()
        if above is None:
            raise IllegalTransition(case.id, str(case.status), "escalate", allowed_actions(case.status))
        due = now + (limits.township if above is Tier.TOWNSHIP else limits.county)
        change |= {"level": above, "escalations": case.escalations + 1, "late": True, "due_at": due,
                   "escalate_at": due if above.above() is not None else None}
        details |= {"from_level": str(case.level), "to_level": str(above), "missed_due": case.due_at}
    elif action is Action.MERGE:
        severity = max(case.severity, Level(fields.pop("severity", case.severity)))
        ts = fields.pop("anomaly_ts", now)
        change |= {"anomaly_count": case.anomaly_count + 1, "severity": severity,
                   "last_anomaly_at": max(case.last_anomaly_at or ts, ts)}
        if severity != case.severity:
            details["severity"] = severity.label
    if responsible is not None:
        change["responsible"] = responsible
    changed = dataclasses.replace(case, **change)
    return changed, _entry(changed, action, case.status, actor, now, note, details)


def _no_clock() -> dict:
    return {"due_at": None, "escalate_at": None}


def _dispatch_clock(case: Case, now: float, limits: Limits) -> dict:
    """Deadlines from a dispatch: the grid level's accept and handle limits, or the level's own
    limit for a case escalated before (a reopened case keeps its level)."""
    if case.level is Tier.GRID:
        accept, handle = now + limits.accept, now + limits.handle
        return {"accept_due": accept, "handle_due": handle, "due_at": accept, "escalate_at": accept}
    due = now + (limits.township if case.level is Tier.TOWNSHIP else limits.county)
    return {"due_at": due, "escalate_at": due if case.level.above() is not None else None}
