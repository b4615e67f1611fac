"""Cases, the audit log and the governance figures in the store: written once for both backends.

`CaseTables` is mixed into SqliteStore and PostgresStore (what it needs of each backend:
`Tables` in twin/store/_sql.py). `append_entries` chains audit rows in the audit log's
transaction; the people's tables (twin/store/_people.py) record their changes with it too.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from twin.cases.figures import GROUPS, KpiCounts
from twin.cases.workflow import OPEN_STATUSES, Case, CaseQuery, Status, Tier
from twin.errors import StaleCase
from twin.people.audit import GENESIS, AuditEntry, AuditRecord, chain
from twin.sensing.catalog import Level
from twin.store import _sql as sql

CASE_COLUMNS = tuple(f.name for f in dataclasses.fields(Case))
CASE_TIMES = (
    "created_at", "updated_at", "last_anomaly_at", "filed_at", "dispatched_at", "accepted_at", "handled_at",
    "closed_at", "evaluated_at", "cancelled_at", "accept_due", "handle_due", "due_at", "escalate_at",
)  # fmt: skip
AUDIT_COLUMNS = ("seq", "at", "actor", "action", "subject", "subject_id", "from_status", "to_status", "note",
                 "details", "snapshot", "hash")
_OPEN = tuple(str(s) for s in OPEN_STATUSES)
_RESOLVED = (str(Status.CLOSED), str(Status.EVALUATED))


def utc_day(ts: float) -> str:
    """'20261129' for a time on 2026-11-29 UTC: the day part of case ids."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y%m%d")


# -- rows <-> objects ---------------------------------------------------------------
def case_row(case: Case, time) -> list:
    values = []
    for name in CASE_COLUMNS:
        value = getattr(case, name)
        if name in CASE_TIMES:
            value = None if value is None else time(value)
        elif name == "severity":
            value = Level(value).label
        elif name in ("status", "level"):
            value = str(value)
        values.append(value)
    return values


def case_from_row(row: Sequence) -> Case:
    values = dict(zip(CASE_COLUMNS, row))
    values["severity"] = Level.parse(values["severity"])
    values["status"] = Status(values["status"])
    values["level"] = Tier(values["level"])
    values["late"] = bool(values["late"])
    return Case(**values)


def audit_from_row(row: Sequence) -> AuditRecord:
    return AuditRecord(*row)


def append_entries(cur, d: sql.Dialect, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
    """Chain `entries` after the last row of the audit log and insert them; the caller holds the audit lock."""
    if not entries:
        return []
    last = cur.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    records = chain(last[1] if last else GENESIS, last[0] if last else 0, entries)
    cur.executemany(
        sql.insert(d, "audit_log", AUDIT_COLUMNS),
        [(r.seq, d.time_in(r.at), r.actor, r.action, r.subject, r.subject_id, r.from_status, r.to_status,
          r.note, r.details, r.snapshot, r.hash) for r in records],
    )
    return records


def _markers(d: sql.Dialect, values: Sequence) -> str:
    return ", ".join(d.param for _ in values)


class CaseTables(sql.Tables):
    """The case, audit and figures methods of TwinStore (see twin/store/base.py for their contracts)."""

    # -- writing ------------------------------------------------------------------
    def save_case(self, case: Case, entries: Sequence[AuditEntry], *,
                  anomalies: Sequence[tuple[str, float]] = ()) -> tuple[Case, list[AuditRecord]]:
        d = self._dialect
        p = d.param
        with self._audit_transaction("save_case") as cur:
            if not case.id:
                day = utc_day(case.created_at)
                (last,) = cur.execute(f"SELECT coalesce(max(number), 0) FROM cases WHERE day = {p}", [day]).fetchone()
                number = int(last) + 1
                case = dataclasses.replace(case, id=f"C-{day}-{number:04d}", version=1)
                entries = [dataclasses.replace(e, subject_id=case.id, snapshot={**e.snapshot, "id": case.id})
                           for e in entries]
                cur.execute(sql.insert(d, "cases", (*CASE_COLUMNS, "day", "number")),
                            [*case_row(case, d.time_in), day, number])
            else:
                stored = case
                case = dataclasses.replace(case, version=case.version + 1)
                columns = [c for c in CASE_COLUMNS if c != "id"]
                values = dict(zip(CASE_COLUMNS, case_row(case, d.time_in)))
                cur.execute(
                    f"UPDATE cases SET {', '.join(f'{c} = {p}' for c in columns)} WHERE id = {p} AND version = {p}",
                    [*(values[c] for c in columns), case.id, stored.version],
                )
                if cur.rowcount != 1:
                    raise StaleCase(case.id, stored.version)
            if anomalies:
                cur.executemany(
                    sql.insert_new(d, "case_anomalies", ("anomaly_id", "case_id", "ts")),
                    [(anomaly_id, case.id, d.time_in(ts)) for anomaly_id, ts in anomalies],
                )
            records = append_entries(cur, d, entries)
        return case, records

    def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        with self._audit_transaction("append_audit") as cur:
            return append_entries(cur, self._dialect, entries)

    # -- reading cases ----------------------------------------------------------------
    def _case_select(self) -> str:
        return f"SELECT {sql.select_list(self._dialect, CASE_COLUMNS, CASE_TIMES)} FROM cases"

    def get_case(self, case_id: str) -> Case | None:
        rows = self._fetch("get_case", (f"{self._case_select()} WHERE id = {self._dialect.param}", [case_id]))
        return case_from_row(rows[0]) if rows else None

    def find_cases(self, query: CaseQuery) -> tuple[list[Case], int]:
        clause, params = self._case_where(query)
        order = " ORDER BY created_at DESC, id DESC"
        p = self._dialect.param
        rows = self._fetch("find_cases", (f"{self._case_select()}{clause}{order} LIMIT {p} OFFSET {p}",
                                          [*params, int(query.limit), int(query.offset)]))
        if query.offset == 0 and len(rows) < query.limit:
            total = len(rows)
        else:
            total = self._fetch("find_cases", (f"SELECT count(*) FROM cases{clause}", params))[0][0]
        return [case_from_row(r) for r in rows], int(total)

    def _case_where(self, q: CaseQuery) -> tuple[str, list]:
        d = self._dialect
        parts: list[str] = []
        params: list[Any] = []

        def among(column: str, values: Iterable) -> None:
            values = [str(v) for v in values]
            if values:
                parts.append(f"{column} IN ({_markers(d, values)})")
                params.extend(values)

        among("status", q.statuses)
        among("cell_code", q.cells)
        among("type", q.types)
        if q.assignee is not None:
            parts.append(f"assignee = {d.param}")
            params.append(q.assignee)
        if q.level is not None:
            parts.append(f"level = {d.param}")
            params.append(str(q.level))
        if q.overdue is not None:
            overdue = (f"(due_at IS NOT NULL AND due_at < {d.param} AND status IN ({_markers(d, _OPEN)}))")
            parts.append(overdue if q.overdue else f"NOT {overdue}")
            params.extend([d.time_in(q.now), *_OPEN])
        return (" WHERE " + " AND ".join(parts) if parts else ""), params

    def open_case_to_merge(self, cell_code: str, type_: str, since: float) -> Case | None:
        d = self._dialect
        p = d.param
        query = (
            f"{self._case_select()} WHERE cell_code = {p} AND type = {p} AND status IN ({_markers(d, _OPEN)})"
            f" AND coalesce(last_anomaly_at, created_at) >= {p} ORDER BY created_at DESC, id DESC LIMIT 1"
        )
        rows = self._fetch("open_case_to_merge", (query, [cell_code, type_, *_OPEN, d.time_in(since)]))
        return case_from_row(rows[0]) if rows else None

    def case_anomaly_ids(self, case_id: str) -> list[str]:
        p = self._dialect.param
        rows = self._fetch("case_anomaly_ids",
                           (f"SELECT anomaly_id FROM case_anomalies WHERE case_id = {p} ORDER BY ts, anomaly_id", [case_id]))
        return [r[0] for r in rows]

    def cases_of_anomalies(self, anomaly_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        ids = list(dict.fromkeys(anomaly_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            query = (f"SELECT anomaly_id, case_id FROM case_anomalies WHERE anomaly_id IN "
                     f"({_markers(self._dialect, chunk)})", chunk)
            found.update(dict(self._fetch("cases_of_anomalies", query)))
        return found

    def next_escalation(self) -> float | None:
        d = self._dialect
        rows = self._fetch("next_escalation", (f"SELECT {d.time_out('min(escalate_at)')} FROM cases", []))
        return rows[0][0] if rows and rows[0][0] is not None else None

    def cases_to_escalate(self, now: float, limit: int = 100) -> list[Case]:
        d = self._dialect
        query = (f"{self._case_select()} WHERE escalate_at IS NOT NULL AND escalate_at < {d.param}"
                 f" ORDER BY escalate_at, id LIMIT {d.param}")
        return [case_from_row(r) for r in self._fetch("cases_to_escalate", (query, [d.time_in(now), int(limit)]))]

    # -- the audit log --------------------------------------------------------------------
    def audit_log(self, *, subject: str | None = None, subject_id: str | None = None, after_seq: int = 0,
                  actor: str | None = None, action: str | None = None, start: float | None = None,
                  end: float | None = None, limit: int = 1000) -> list[AuditRecord]:
        d = self._dialect
        clause, params = sql.where(d, [
            ("seq > {}", int(after_seq)), ("subject = {}", subject), ("subject_id = {}", subject_id),
            ("actor = {}", actor), ("action = {}", action),
            ("at >= {}", None if start is None else d.time_in(start)), ("at < {}", None if end is None else d.time_in(end)),
        ])  # fmt: skip
        query = (f"SELECT {sql.select_list(d, AUDIT_COLUMNS, ('at',))} FROM audit_log{clause}"
                 f" ORDER BY seq LIMIT {d.param}")
        return [audit_from_row(r) for r in self._fetch("audit_log", (query, [*params, int(limit)]))]

    def audit_cursor(self, name: str) -> int | None:
        rows = self._fetch("audit_cursor", (f"SELECT seq FROM audit_cursors WHERE name = {self._dialect.param}", [name]))
        return int(rows[0][0]) if rows else None

    def set_audit_cursor(self, name: str, seq: int) -> None:
        with self._audit_transaction("set_audit_cursor") as cur:
            cur.execute(sql.upsert(self._dialect, "audit_cursors", ("name", "seq"), "name"), [name, int(seq)])

    def last_audit_seq(self) -> int:
        rows = self._fetch("last_audit_seq", ("SELECT coalesce(max(seq), 0) FROM audit_log", []))
        return int(rows[0][0])

    # -- governance figures -------------------------------------------------------------
    def kpi_counts(self, group: str, start: float, end: float, now: float) -> list[KpiCounts]:
        d = self._dialect
        p = d.param
        length = GROUPS[group]
        epoch = self._epoch_sql
        opened, resolved = _markers(d, _OPEN), _markers(d, _RESOLVED)
        query = f"""
            SELECT substr(cell_code, 1, {length}) AS unit,
                count(*),
                sum(CASE WHEN status IN ({opened}) THEN 1 ELSE 0 END),
                sum(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END),
                sum(CASE WHEN status IN ({resolved}) THEN 1 ELSE 0 END),
                sum(CASE WHEN status IN ({resolved}) AND NOT late THEN 1 ELSE 0 END),
                sum(CASE WHEN status IN ({opened}) AND due_at IS NOT NULL AND due_at < {p} THEN 1 ELSE 0 END),
                sum(CASE WHEN source = 'anomaly' AND (filed_at IS NOT NULL OR status = 'cancelled') THEN 1 ELSE 0 END),
                sum(CASE WHEN source = 'anomaly' AND cancel_reason = 'false_alarm' THEN 1 ELSE 0 END),
                count(satisfaction),
                sum(CAST(satisfaction AS DOUBLE PRECISION)),
                count(dispatched_at),
                sum({epoch('dispatched_at')} - {epoch('created_at')}),
                count(closed_at),
                sum({epoch('closed_at')} - {epoch('created_at')}),
                sum(escalations)
            FROM cases WHERE created_at >= {p} AND created_at < {p}
            GROUP BY unit ORDER BY unit"""
        params = [*_OPEN, *_RESOLVED, *_RESOLVED, *_OPEN, d.time_in(now), d.time_in(start), d.time_in(end)]
        return [KpiCounts(r[0], *(_number(v) for v in r[1:])) for r in self._fetch("kpi_counts", (query, params))]


def _number(value):
    """Sums come back as int, float or Decimal (PostgreSQL numeric); None for an empty sum."""
    if value is None:
        return 0
    return value if isinstance(value, int) else float(value)
