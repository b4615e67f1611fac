"""The cases of one twin: opened from anomalies and reports, moved by people, escalated by time.

`CaseBook` joins the workflow (twin/cases/workflow.py), the limits, responsibility, access
rules and auto-dispatch rules to the store. Every change is one store transaction:
the case (checked against the version it was read at), its audit entries and its
anomalies. A change that loses a race with another writer is read again and retried,
so two processes never overwrite each other and an action that became illegal in the
meantime answers as illegal. The store is synchronous, and so is this class: async
callers run it in a worker thread.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Callable, Sequence

from twin.cases.autodispatch import Match, cells_near, find_matches
from twin.cases.deadlines import Limits
from twin.cases.responsibility import Responsibility
from twin.cases.workflow import (
    CASE_TYPE,
    MAX_NOTE,
    SYSTEM_ACTOR,
    Action,
    Case,
    CaseQuery,
    Status,
    Tier,
    new_case,
    transition,
)
from twin.errors import CaseNotFound, InvalidTransition, StaleCase
from twin.people.access import Principal, authorize
from twin.people.audit import AuditRecord
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.times import rfc3339

if TYPE_CHECKING:
    from twin.grid.cells import Grid
    from twin.store.base import TwinStore

log = logging.getLogger(__name__)

__all__ = ["CaseBook", "AUTO_DISPATCH_ACTOR", "ESCALATION_ACTOR"]

AUTO_DISPATCH_ACTOR = "system:auto-dispatch"
ESCALATION_ACTOR = "system:escalation"
RETRIES = 5


class CaseBook:
    """Cases over a store and a grid, with the `[cases]` and `[responsibility]` settings."""

    def __init__(self, store: TwinStore, grid: Grid, settings, responsibility: Responsibility | None = None, *,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.grid = grid
        self.settings = settings  # twin.config.CaseSettings
        self.responsibility = responsibility or Responsibility()
        self.clock = clock

    def limits(self, case: Case) -> Limits:
        return self.settings.limits.for_case(case.type, case.severity)

    def _responsible(self, case: Case, tier: Tier, assignee: str | None) -> str | None:
        cell = self.grid.get(case.cell_code)
        if cell is None:
            return assignee if tier is Tier.GRID else case.responsible
        return self.responsibility.at(cell, tier, assignee)

    def _save(self, case: Case, entries, anomalies=()) -> Case:
        saved, _ = self.store.save_case(case, entries, anomalies=anomalies)
        return saved

    def _retrying(self, case_id: str, change: Callable[[Case], Case | None]) -> Case | None:
        """Read the case, apply `change` (which saves, or returns None to do nothing), again on a race."""
        for _ in range(RETRIES):
            case = self.store.get_case(case_id)
            if case is None:
                raise CaseNotFound(case_id)
            try:
                return change(case)
            except StaleCase:
                continue
        raise StaleCase(case_id, -1)

    # -- reading --------------------------------------------------------------
    def get(self, case_id: str) -> Case:
        case = self.store.get_case(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        return case

    def find(self, query: CaseQuery) -> tuple[list[Case], int]:
        return self.store.find_cases(query)

    def timeline(self, case_id: str) -> list[AuditRecord]:
        return self.store.audit_log(subject="case", subject_id=case_id, limit=10_000)

    # -- cases from anomalies ---------------------------------------------------
    def take_anomalies(self, anomalies: Sequence[Anomaly]) -> list[Case]:
        """Open or join a case for every opened incident anomaly not yet in one, then apply the
        auto-dispatch rules. Returns the cases changed (latest version of each).

        Device-health alerts (category `device_health`: offline, stuck, drifting sensors, ...)
        are for technicians and never become cases."""
        # One entry per anomaly: the same one can come twice (stored before a restart, and retried).
        unique = {a.id: a for a in anomalies if a.status == "opened" and a.is_incident and a.cell_code in self.grid}
        opened = sorted(unique.values(), key=lambda a: a.ts)
        if not opened:
            return []
        linked = self.store.cases_of_anomalies([a.id for a in opened])
        fresh = [a for a in opened if a.id not in linked]
        changed: dict[str, Case] = {}
        for anomaly in fresh:
            case = self._file_anomaly(anomaly)
            changed[case.id] = case
        for anomaly in fresh:
            for case in self._auto_dispatch(anomaly):
                changed[case.id] = case
        return list(changed.values())

    def _file_anomaly(self, a: Anomaly) -> Case:
        note = a.explanation
        details = {"anomaly_id": a.id, "device_id": a.device_id, "detector": a.detector}
        for _ in range(RETRIES):
            now = self.clock()
            case = self.store.open_case_to_merge(a.cell_code, a.type, a.ts - self.settings.merge_window_s)
            try:
                if case is None:
                    cell = self.grid[a.cell_code]
                    new, entry = new_case(type_=a.type, severity=a.severity, cell_code=a.cell_code, now=now,
                                          lat=a.lat, lon=a.lon, anomaly_ts=a.ts, note=note, details=details,
                                          responsible=self.responsibility.worker(cell),
                                          title=a.explanation[:200])
                    return self._save(new, [entry], [(a.id, a.ts)])
                merged, entry = transition(case, Action.MERGE, actor=SYSTEM_ACTOR, now=now, limits=self.limits(case),
                                           note=note, details=details, severity=a.severity, anomaly_ts=a.ts)
                return self._save(merged, [entry], [(a.id, a.ts)])
            except StaleCase:
                continue
        raise StaleCase(a.cell_code, -1)

    def _auto_dispatch(self, a: Anomaly) -> list[Case]:
        rules = [r for r in self.settings.dispatch_rules if r.triggers(a) or r.confirms(a)]
        if not rules:
            return []
        window = max(r.within_s for r in rules)
        cells = dict.fromkeys(code for r in rules for code in cells_near(r, self.grid, a.cell_code))
        nearby = [x for code in cells for x in self.store.anomalies(cell_code=code, start=a.ts - window, limit=500)
                  if x.ts <= a.ts + window and x.is_incident]  # a faulty sensor confirms nothing
        matches = find_matches(rules, a, nearby, self.grid)
        if not matches:
            return []
        case_of = self.store.cases_of_anomalies([m.trigger.id for m in matches])
        dispatched: dict[str, Case] = {}
        for match in matches:
            case_id = case_of.get(match.trigger.id)
            if case_id is None or case_id in dispatched:
                continue
            case = self._retrying(case_id, lambda c, m=match: self._dispatch_now(c, m))
            if case is not None:
                dispatched[case_id] = case
        return list(dispatched.values())

    def _dispatch_now(self, case: Case, match: Match) -> Case | None:
        if case.status not in (Status.REPORTED, Status.FILED):
            return None  # a dispatcher got there first, or it is already done
        now = self.clock()
        note = match.explanation()
        details = {"rule": match.rule.name, "trigger": match.trigger.id,
                   "confirmation": match.confirmation.id if match.confirmation else None}
        limits = self.limits(case)
        entries = []
        if case.status is Status.REPORTED:
            case, entry = transition(case, Action.FILE, actor=AUTO_DISPATCH_ACTOR, now=now, limits=limits,
                                     note=note, details=details)
            entries.append(entry)
        cell = self.grid.get(case.cell_code)
        assignee = case.assignee or (self.responsibility.worker(cell) if cell else None)
        if assignee is None:
            log.warning("case %s in cell %s matched rule %s but the cell has no grid worker: filed for a dispatcher",
                        case.id, case.cell_code, match.rule.name)
        else:
            case, entry = transition(case, Action.DISPATCH, actor=AUTO_DISPATCH_ACTOR, now=now, limits=limits,
                                     note=note, details=details, assignee=assignee,
                                     responsible=self._responsible(case, case.level, assignee))
            entries.append(entry)
        return self._save(case, entries) if entries else None

    # -- manual reports -------------------------------------------------------------
    def report(self, principal: Principal, *, type_: object, severity: object = "warning", cell: object = None,
               lat: object = None, lon: object = None, title: object = "", description: object = "") -> Case:
        """A case reported by a person (patrol, citizen hotline): AccessDenied or InvalidTransition
        listing every problem with the fields."""
        authorize(principal, "case.report")
        problems = []
        if not isinstance(type_, str) or not CASE_TYPE.match(type_):
            problems.append({"field": "type", "message": "required: 1-64 lower-case letters, digits or '_' "
                             "(pm25_high, illegal_parking, pothole, ...)"})
        level = {"warning": Level.WARNING, "critical": Level.CRITICAL}.get(severity if isinstance(severity, str) else "")
        if level is None:
            problems.append({"field": "severity", "message": "warning or critical"})
        for name, value, bound in (("lat", lat, 90.0), ("lon", lon, 180.0)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or abs(value) > bound):
                problems.append({"field": name, "message": f"a number from -{bound:g} to {bound:g} (WGS84 degrees)"})
        for name, value, most in (("title", title, 200), ("description", description, MAX_NOTE)):
            if not isinstance(value, str) or len(value) > most:
                problems.append({"field": name, "message": f"text of at most {most} characters"})
        code = None
        if cell is not None:
            if not isinstance(cell, str) or cell not in self.grid:
                problems.append({"field": "cell", "message": f"{cell!r} is not a cell of the grid"})
            else:
                code = cell
        elif isinstance(lat, (int, float)) and isinstance(lon, (int, float)) and not problems:
            code = self.grid.locate(float(lon), float(lat))
            if code is None:
                problems.append({"field": None, "message": f"lat {lat}, lon {lon} is outside every grid cell"})
        elif not problems:
            problems.append({"field": "cell", "message": "give the cell code, or lat and lon of the place"})
        if problems:
            raise InvalidTransition(problems)
        now = self.clock()
        case, entry = new_case(type_=type_, severity=level, cell_code=code, now=now, actor=principal.name,
                               source="manual", title=title, description=description,
                               lat=None if lat is None else float(lat), lon=None if lon is None else float(lon),
                               responsible=self.responsibility.worker(self.grid[code]))
        return self._save(case, [entry])

    # -- people's actions ---------------------------------------------------------
    def act(self, case_id: str, action: object, principal: Principal, *, note: object = "", **fields) -> Case:
        """Take `action` on a case as `principal`. The checks run in this order, and the first that
        fails raises: CaseNotFound; InvalidTransition (an unknown action); AccessDenied;
        IllegalTransition listing what the status allows; InvalidTransition (the action's fields)."""
        def change(case: Case) -> Case:
            action_ = _person_action(action)
            if not isinstance(note, str):
                raise InvalidTransition([{"field": "note", "message": "must be text"}])
            authorize(principal, f"case.{action_}", case)
            given = dict(fields)
            if action_ is Action.DISPATCH and not given.get("assignee"):
                cell = self.grid.get(case.cell_code)
                given["assignee"] = case.assignee or (self.responsibility.worker(cell) if cell else None)
            assignee = given.get("assignee") if action_ in (Action.DISPATCH, Action.REASSIGN) else case.assignee
            responsible = self._responsible(case, case.level, assignee) if case.level is Tier.GRID else None
            changed, entry = transition(case, action_, actor=principal.name, now=self.clock(), limits=self.limits(case),
                                        note=note, responsible=responsible, **given)
            return self._save(changed, [entry])

        return self._retrying(case_id, change)

    # -- escalation -------------------------------------------------------------------
    def next_escalation(self) -> float | None:
        return self.store.next_escalation()

    def escalate_due(self) -> list[Case]:
        """Escalate every case whose limit has passed (a case is on time at its deadline itself); the
        escalated cases."""
        now = self.clock()
        escalated = []
        for due in self.store.cases_to_escalate(now):
            case = self._retrying(due.id, lambda c: self._escalate(c, now))
            if case is not None:
                escalated.append(case)
        return escalated

    def _escalate(self, case: Case, now: float) -> Case | None:
        if case.escalate_at is None or case.escalate_at >= now or case.level.above() is None:
            return None  # handled, reassigned or escalated by someone else meanwhile
        above = case.level.above()
        responsible = self._responsible(case, above, case.assignee)
        waiting = "acceptance" if case.status is Status.DISPATCHED and case.level is Tier.GRID else "handling"
        note = (f"the {case.level} level's limit for {waiting} passed at {rfc3339(case.escalate_at)}; "
                f"escalated to the {above} level ({responsible})")
        changed, entry = transition(case, Action.ESCALATE, actor=ESCALATION_ACTOR, now=now, limits=self.limits(case),
                                    note=note, responsible=responsible)
        log.info("case %s in cell %s escalated to %s (%s)", case.id, case.cell_code, above, responsible)
        return self._save(changed, [entry])

    # -- recovery -----------------------------------------------------------------------
    def unfiled_anomalies(self, since: float) -> list[Anomaly]:
        """Opened anomalies since `since` that are in no case (a process stopped between storing
        them and opening their case)."""
        opened = [a for a in self.store.anomalies(start=since, limit=10_000) if a.status == "opened"]
        linked = self.store.cases_of_anomalies([a.id for a in opened])
        return [a for a in opened if a.id not in linked]



def _person_action(action: object) -> Action:
    """The action a person asked for; InvalidTransition for an unknown one or one only the system takes."""
    try:
        found = Action(action)
    except ValueError:
        found = None
    if found is None or found.system:
        allowed = [a.value for a in Action if not a.system]
        raise InvalidTransition([{"field": "action", "message": f"one of {', '.join(allowed)}"}])
    return found
