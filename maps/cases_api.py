"""HTTP API of the case loop: cases, their transitions and timeline, the audit log and the
governance figures. Every write is authorized by role (twin/people/access.py) and recorded in
the audit log by the store; the gateway publishes the resulting case updates on MQTT.

    GET  /api/cases                     filters, paging
    POST /api/cases                     a manual report
    GET  /api/cases/{id}                the case, its anomalies and its timeline
    POST /api/cases/{id}/transitions    {"action": ..., "note": ..., <the action's fields>}
    GET  /api/audit                     the audit log (admin)
    GET  /api/kpi                       governance figures (JSON or CSV)
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maps import answers
from maps.auth import principal_of, read_json
from maps.bodies import CaseReport, Transition, decode
from maps.context import context
from maps.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from maps.openapi import NOT_FOUND, Answer, operation, path_param, query
from maps.params import check_known, parse_bool, parse_limit, parse_time
from twin.cases.figures import GROUPS, figures, to_csv
from twin.cases.workflow import CaseQuery, Status, Tier
from twin.contract.cloudevents import case_json
from twin.errors import AccessDenied, CaseNotFound, IllegalTransition, InvalidTransition, StaleCase
from twin.people.access import Principal, authorize
from twin.people.audit import AuditRecord
from twin.times import rfc3339

__all__ = ["ROUTES"]

DEFAULT_KPI_SPAN = 86_400.0


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


async def _call(principal: Principal, fn, *args, **kwargs):
    """Run a CaseBook call in a worker thread, translating the twin's errors into HTTP answers."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except AccessDenied as exc:
        raise (Forbidden if principal.authenticated else Unauthorized)(str(exc)) from None
    except CaseNotFound as exc:
        raise NotFound(str(exc), {"id": exc.case_id}) from None
    except IllegalTransition as exc:
        raise Conflict(str(exc), {"status": exc.status, "action": exc.action, "allowed": exc.allowed}) from None
    except InvalidTransition as exc:
        raise Unprocessable(str(exc), exc.problems) from None
    except StaleCase as exc:
        raise Conflict(f"{exc}; it kept changing, try again", {"id": exc.case_id}) from None


def _authorize(principal: Principal, permission: str) -> None:
    try:
        authorize(principal, permission)
    except AccessDenied as exc:
        raise (Forbidden if principal.authenticated else Unauthorized)(str(exc)) from None


def _case(request: Request, case) -> dict:
    book = context(request).book
    return case_json(case, book.grid.get(case.cell_code), book.clock())


def _audit(record: AuditRecord) -> dict:
    return record.to_json() | {"at": rfc3339(record.at)}


# -- cases --------------------------------------------------------------------------
def _choices(name: str, text: str, kind) -> tuple:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    known = [str(k) for k in kind]
    wrong = [v for v in values if v not in known]
    if wrong or not values:
        raise BadRequest(f"{name}: {', '.join(wrong) or repr(text)} is not one of {', '.join(known)} "
                         "(several: comma-separated)", {"parameter": name, "value": text})
    return tuple(kind(v) for v in values)


_CASE = Answer({"$ref": "#/components/schemas/Case"}, "The case")
_CASE_ID = path_param("id", "case id", "C-20261129-0001")
_TIMES = "RFC 3339 or epoch seconds"


@operation("get", "Cases, newest first (role: any)", params=[
    query("status", "only these statuses, comma-separated", example="dispatched,accepted"),
    query("cell", "only these cells, comma-separated"),
    query("type", "only these types, comma-separated", example="fire,smoke"),
    query("assignee", "only cases assigned to this user; `me` for the caller"),
    query("level", "only cases at this level", {"type": "string", "enum": [t.value for t in Tier]}),
    query("overdue", "true: open and past due; false: the others", {"type": "boolean"}),
    query("limit", "page size (default 50, max 500)", {"type": "integer", "minimum": 1, "maximum": 500}),
    query("offset", "cases to skip", {"type": "integer", "minimum": 0}),
], answers={200: Answer(answers.CaseList, "One page and the total")})
@operation("post", "Report a case by hand (roles: dispatcher, grid_worker, admin)", body=CaseReport,
           answers={201: Answer(_CASE.shape, "The reported case; Location names it")})
async def cases(request: Request) -> Response:
    """One route for both methods, so a wrong method is answered with the full Allow list."""
    return await (report_case(request) if request.method == "POST" else list_cases(request))


async def list_cases(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("status", "cell", "type", "assignee", "level", "overdue", "limit", "offset"))
    principal = principal_of(request)
    _authorize(principal, "case.read")
    book = context(request).book
    limit = parse_limit(query, default=50, maximum=500)
    offset_text = query.get("offset", "0")
    if not offset_text.isdigit():
        raise BadRequest(f"offset: {offset_text!r} is not a whole number of 0 or more", {"parameter": "offset"})
    assignee = query.get("assignee")
    if assignee == "me":
        assignee = principal.name
    filters = CaseQuery(
        statuses=_choices("status", query["status"], Status) if "status" in query else (),
        cells=tuple(c for c in query.get("cell", "").split(",") if c),
        types=tuple(t for t in query.get("type", "").split(",") if t),
        assignee=assignee,
        level=_choices("level", query["level"], Tier)[0] if "level" in query else None,
        overdue=parse_bool("overdue", query["overdue"]) if "overdue" in query else None,
        now=book.clock(),
        limit=limit,
        offset=int(offset_text),
    )
    found, total = await _call(principal, book.find, filters)
    return _json({"cases": [_case(request, c) for c in found], "total": total, "limit": limit,
                  "offset": filters.offset})


async def report_case(request: Request) -> Response:
    check_known(request.query_params, ())
    principal = principal_of(request)
    _authorize(principal, "case.report")
    given = decode(await read_json(request), CaseReport, "report")
    book = context(request).book
    case = await _call(principal, book.report, principal, type_=given.type, severity=given.severity, cell=given.cell,
                       lat=given.lat, lon=given.lon, title=given.title, description=given.description)
    return _json(_case(request, case), 201, {"Location": f"/api/cases/{case.id}"})


@operation("get", "One case with its anomalies and its timeline (the audit log's rows of the case)",
           params=[_CASE_ID], answers={200: Answer({"$ref": "#/components/schemas/CaseDetail"}, "The case"),
                                       404: NOT_FOUND})
async def get_case(request: Request) -> Response:
    check_known(request.query_params, ())
    principal = principal_of(request)
    _authorize(principal, "case.read")
    book = context(request).book
    case_id = request.path_params["id"]
    case = await _call(principal, book.get, case_id)
    anomaly_ids = await run_in_threadpool(book.store.case_anomaly_ids, case_id)
    timeline = await run_in_threadpool(book.timeline, case_id)
    return _json(_case(request, case) | {"anomaly_ids": anomaly_ids, "timeline": [_audit(r) for r in timeline]})


@operation("post", "Move a case: file, cancel, dispatch, reassign, accept, handle, close, reopen, evaluate",
           params=[_CASE_ID], body=Transition,
           answers={200: Answer(_CASE.shape, "The case after the transition"), 404: NOT_FOUND,
                    409: Answer((answers.IllegalTransition, answers.Error), "The action is not allowed in the "
                                "case's status: `detail.allowed` lists what is; or the case kept changing: try again")},
           description="Roles: accept and handle are for the grid worker the case is assigned to; the others for "
           "dispatchers and admins. Checked in this order: the body's shape (422: a JSON object with an action and "
           "no other members than a transition takes), the case exists (404), the action and the role (422 for an "
           "unknown action, 401/403), the action in the case's status (409 lists the allowed ones), the action's "
           "fields (422 lists each problem).")
async def transitions(request: Request) -> Response:
    check_known(request.query_params, ())
    principal = principal_of(request)
    given = decode(await read_json(request), Transition, "transition")
    book = context(request).book
    case = await _call(principal, book.act, request.path_params["id"], given.action, principal, note=given.note,
                       **given.fields())
    return _json(_case(request, case))


# -- the audit log --------------------------------------------------------------------
@operation("get", "The audit log, oldest first (role: admin)", params=[
    query("subject", "case, user or device", {"type": "string", "enum": ["case", "user", "device"]}),
    query("id", "one case id or user name"),
    query("actor", "only rows of this actor"),
    query("action", "only this action", example="escalate"),
    query("from", f"at or after ({_TIMES})"),
    query("to", f"before ({_TIMES})"),
    query("after", "only rows after this seq (paging)", {"type": "integer", "minimum": 0}),
    query("limit", "at most this many (default 1000, max 10000)", {"type": "integer", "minimum": 1, "maximum": 10_000}),
], answers={200: Answer(answers.AuditLog, "Rows")})
async def audit(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("subject", "id", "actor", "action", "from", "to", "after", "limit"))
    principal = principal_of(request)
    _authorize(principal, "audit.read")
    after = query.get("after", "0")
    if not after.isdigit():
        raise BadRequest(f"after: {after!r} is not a sequence number (0 or more)", {"parameter": "after"})
    limit = parse_limit(query, default=1000, maximum=10_000)
    start = parse_time("from", query["from"]) if "from" in query else None
    end = parse_time("to", query["to"]) if "to" in query else None
    store = context(request).store
    records = await run_in_threadpool(
        lambda: store.audit_log(subject=query.get("subject"), subject_id=query.get("id"), actor=query.get("actor"),
                                action=query.get("action"), after_seq=int(after), start=start, end=end, limit=limit))
    return _json({"entries": [_audit(r) for r in records],
                  "next_after": records[-1].seq if len(records) == limit else None})


# -- governance figures -------------------------------------------------------------
@operation("get", "Governance figures per grid cell, street or district over a period (role: any)", params=[
    query("level", "grid, street or district (default district)", {"type": "string", "enum": list(GROUPS)}),
    query("from", f"start (inclusive), {_TIMES}; default `to` minus 24 h"),
    query("to", f"end (exclusive), {_TIMES}; default now"),
    query("format", "json (default) or csv", {"type": "string", "enum": ["json", "csv"]}),
], answers={200: Answer(answers.Kpi, "The figures", more={"text/csv": {"type": "string"}})},
    description="Over the cases reported in from..to: resolution rate, on-time rate, mean satisfaction, warning "
    "accuracy, mean time to dispatch and to close, escalations, open and overdue now. A rate with nothing to divide "
    "by is null. `format=csv` answers text/csv with the same columns.")
async def kpi(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("level", "from", "to", "format"))
    principal = principal_of(request)
    _authorize(principal, "kpi.read")
    book = context(request).book
    group = query.get("level", "district")
    if group not in GROUPS:
        raise BadRequest(f"level: {group!r} is not one of {', '.join(GROUPS)}", {"parameter": "level", "value": group})
    fmt = query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest(f"format: {fmt!r} is not json or csv", {"parameter": "format", "value": fmt})
    now = book.clock()
    end = parse_time("to", query["to"]) if "to" in query else now
    start = parse_time("from", query["from"]) if "from" in query else end - DEFAULT_KPI_SPAN
    if start >= end:
        raise BadRequest(f"from ({rfc3339(start)}) must be before to ({rfc3339(end)})",
                         {"from": rfc3339(start), "to": rfc3339(end)})
    counts = await run_in_threadpool(book.store.kpi_counts, group, start, end, now)
    result = figures(counts, group, book.grid)
    if fmt == "csv":
        name = f"gridtwin-kpi-{group}-{_day(start)}-{_day(end)}.csv"
        return Response(to_csv(result), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return _json({"level": group, "from": rfc3339(start), "to": rfc3339(end), "computed_at": rfc3339(now), **result})


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).date().isoformat()


ROUTES = [
    Route("/api/cases", cases, methods=["GET", "POST"]),
    Route("/api/cases/{id}", get_case, methods=["GET"]),
    Route("/api/cases/{id}/transitions", transitions, methods=["POST"]),
    Route("/api/audit", audit, methods=["GET"]),
    Route("/api/kpi", kpi, methods=["GET"]),
]
