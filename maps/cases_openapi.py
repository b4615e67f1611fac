"""The OpenAPI description of the case loop's endpoints (login, cases, audit log, KPI), merged
into the document of maps/openapi.py. The case object is the `case` of the MQTT case-update
schema (docs/schemas/case-update.json), so both say the same."""

from __future__ import annotations

from twin.cases import CANCEL_REASONS, Action, Status, Tier
from twin.kpi import CSV_COLUMNS, GROUPS
from twin.schemas import load_schema
from twin.users import Role

_USER_ACTIONS = [a.value for a in Action if not a.system]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _query(name: str, description: str, schema: dict | None = None, example: str | None = None) -> dict:
    param = {"name": name, "in": "query", "required": False, "description": description,
             "schema": schema or {"type": "string"}}
    if example is not None:
        param["example"] = example
    return param


def _localized(schema: dict) -> dict:
    """The case-update schema's `case`, with its refs to common.json written out for OpenAPI."""
    common = load_schema("common")["$defs"]

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("common.json#/$defs/"):
                name = ref.rsplit("/", 1)[1]
                return walk({k: v for k, v in node.items() if k != "$ref"} | common[name])
            if ref == "#/$defs/cellCode" or ref == "#/$defs/districtCode":
                return walk(common[ref.rsplit("/", 1)[1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def _case_schema() -> dict:
    update = load_schema("case-update")
    case = _localized(update["$defs"]["case"])
    case["properties"]["id"] = update["$defs"]["caseId"]
    return case


_PRINCIPAL = {
    "type": "object",
    "required": ["name", "role", "authenticated", "via", "permissions"],
    "properties": {
        "name": {"type": "string", "description": "the user, or `anonymous`"},
        "role": {"type": ["string", "null"], "enum": [r.value for r in Role] + [None]},
        "authenticated": {"type": "boolean"},
        "via": {"type": "string", "enum": ["session", "token", "anonymous"]},
        "permissions": {"type": "array", "items": {"type": "string"},
                        "description": "case.accept and case.handle apply to cases assigned to the user"},
        "expires_at": {"type": "string", "format": "date-time", "description": "login only: when the session ends"},
        "csrf_token": {"type": ["string", "null"],
                       "description": "the session's CSRF token, to send as X-CSRF-Token on every write with the "
                                      "session cookie (also in the gridtwin_csrf cookie); null without a session"},
    },
}

_AUDIT_ENTRY = {
    "type": "object",
    "required": ["seq", "at", "actor", "action", "subject", "subject_id", "from_status", "to_status", "note",
                 "details", "hash"],
    "properties": {
        "seq": {"type": "integer", "minimum": 1},
        "at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string"},
        "action": {"type": "string", "description": "a case action (file, dispatch, escalate, ...) or login, "
                   "logout, user.create, token.issue, device.register"},
        "subject": {"type": "string", "enum": ["case", "user", "device"]},
        "subject_id": {"type": "string"},
        "from_status": {"type": ["string", "null"]},
        "to_status": {"type": ["string", "null"]},
        "note": {"type": "string"},
        "details": {"type": "object"},
        "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                 "description": "sha256 over the previous row's hash and this row (see docs/cases.md)"},
    },
}

_KPI_ROW = {
    "type": "object",
    "required": list(CSV_COLUMNS),
    "properties": {
        "code": {"type": "string", "description": "cell, street or district code; empty in the total"},
        "name": {"type": "string"},
        **{k: {"type": "integer", "minimum": 0} for k in ("cases", "open", "overdue", "cancelled", "resolved",
                                                          "evaluated", "warnings_decided", "false_alarms",
                                                          "escalations")},
        **{k: {"type": ["number", "null"], "minimum": 0, "maximum": 1}
           for k in ("resolution_rate", "on_time_rate", "warning_accuracy")},
        "mean_satisfaction": {"type": ["number", "null"], "minimum": 1, "maximum": 5},
        "mean_time_to_dispatch_s": {"type": ["number", "null"], "minimum": 0},
        "mean_time_to_close_s": {"type": ["number", "null"], "minimum": 0},
    },
}


def schemas() -> dict:
    case = _case_schema()
    return {
        "Principal": _PRINCIPAL,
        "Login": {"type": "object", "required": ["name", "password"], "additionalProperties": False,
                  "properties": {"name": {"type": "string"}, "password": {"type": "string", "format": "password"}}},
        "Case": case,
        "CaseDetail": {"allOf": [_ref("Case")], "type": "object", "required": ["anomaly_ids", "timeline"],
                       "properties": {"anomaly_ids": {"type": "array", "items": {"type": "string"}},
                                      "timeline": {"type": "array", "items": _ref("AuditEntry")}}},
        "CaseList": {"type": "object", "required": ["cases", "total", "limit", "offset"],
                     "properties": {"cases": {"type": "array", "items": _ref("Case")},
                                    "total": {"type": "integer", "minimum": 0},
                                    "limit": {"type": "integer"}, "offset": {"type": "integer"}}},
        "CaseReport": {
            "type": "object", "required": ["type"], "additionalProperties": False,
            "description": "Give `cell`, or `lat` and `lon` of the place.",
            "properties": {
                "type": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_]{0,63}$", "examples": ["pothole"]},
                "severity": {"type": "string", "enum": ["warning", "critical"], "default": "warning"},
                "cell": {"type": "string", "pattern": "^[0-9]{15}$"},
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
                "title": {"type": "string", "maxLength": 200},
                "description": {"type": "string", "maxLength": 4000},
            },
        },
        "Transition": {
            "type": "object", "required": ["action"], "additionalProperties": False,
            "properties": {
                "action": {"type": "string", "enum": _USER_ACTIONS},
                "note": {"type": "string", "maxLength": 4000,
                         "description": "required for handle (the feedback) and reopen (why)"},
                "reason": {"type": "string", "enum": list(CANCEL_REASONS), "description": "cancel: required"},
                "assignee": {"type": "string", "description": "dispatch (default: the cell's grid worker), "
                             "reassign: required"},
                "photo_url": {"type": "string", "format": "uri", "description": "handle: optional"},
                "satisfaction": {"type": "integer", "minimum": 1, "maximum": 5, "description": "evaluate: required"},
            },
        },
        "IllegalTransition": {"type": "object", "required": ["error", "detail"], "properties": {
            "error": {"type": "string"},
            "detail": {"type": "object", "required": ["status", "action", "allowed"], "properties": {
                "status": {"type": "string", "enum": [s.value for s in Status]},
                "action": {"type": "string"},
                "allowed": {"type": "array", "items": {"type": "string", "enum": _USER_ACTIONS}}}}}},
        "AuditEntry": _AUDIT_ENTRY,
        "AuditLog": {"type": "object", "required": ["entries", "next_after"], "properties": {
            "entries": {"type": "array", "items": _ref("AuditEntry")},
            "next_after": {"type": ["integer", "null"], "description": "pass as `after` for the next page; null "
                           "at the end"}}},
        "KpiRow": _KPI_ROW,
        "Kpi": {"type": "object", "required": ["level", "from", "to", "computed_at", "rows", "total"], "properties": {
            "level": {"type": "string", "enum": list(GROUPS)},
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "computed_at": {"type": "string", "format": "date-time"},
            "rows": {"type": "array", "items": _ref("KpiRow")},
            "total": _ref("KpiRow")}},
    }


RESPONSES = {
    "Unauthorized": _json(_ref("Error"), "No valid credentials: log in or send a bearer token."),
    "Forbidden": _json(_ref("Error"), "The user's role, or the case's assignment, does not allow this."),
    "IllegalTransition": _json(_ref("IllegalTransition"), "The action is not allowed in the case's status; "
                               "`detail.allowed` lists what is."),
    "UnsupportedMedia": _json(_ref("Error"), "A write with a session cookie must send JSON."),
    "TooManyRequests": {**_json(_ref("Error"), "Too many failed logins for the account or the address; "
                                "`detail` has retry_after (s) and scope (account or address)"),
                        "headers": {"Retry-After": {"schema": {"type": "integer"},
                                                    "description": "seconds until a login may be tried"}}},
}

SECURITY_SCHEMES = {
    "session": {"type": "apiKey", "in": "cookie", "name": "gridtwin_session",
                "description": "set by POST /api/login (signed, HttpOnly, SameSite=Lax); every write with it "
                               "also sends the session's CSRF token in X-CSRF-Token (403 without it)"},
    "bearer": {"type": "http", "scheme": "bearer", "description": "a token from `gridtwin users token NAME`"},
}

_CASE_ID = {"name": "id", "in": "path", "required": True, "description": "case id", "schema": {"type": "string"},
            "example": "C-20261129-0001"}
_SECURED = [{"session": []}, {"bearer": []}, {}]  # {}: the anonymous role (viewer unless auth.anonymous = "none")


def paths() -> dict:
    return {
        "/api/login": {"post": {
            "summary": "Log in: a session cookie for the browser",
            "operationId": "login",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Login")}}},
            "responses": {"200": _json(_ref("Principal"), "Logged in; Set-Cookie carries the session"),
                          "401": _error("Unauthorized"), "422": _error("Unprocessable"),
                          "429": _error("TooManyRequests")},
            "security": [{}],
        }},
        "/api/logout": {"post": {
            "summary": "Log out: end the session and clear its cookie",
            "operationId": "logout",
            "responses": {"200": _json({"type": "object", "required": ["logged_out"],
                                        "properties": {"logged_out": {"type": "boolean"}}},
                                       "logged_out is false when there was no session")},
            "security": _SECURED,
        }},
        "/api/me": {"get": {
            "summary": "Who the request is from and what they may do",
            "operationId": "me",
            "responses": {"200": _json(_ref("Principal"), "The principal")},
            "security": _SECURED,
        }},
        "/api/cases": {
            "get": {
                "summary": "Cases, newest first (role: any)",
                "operationId": "listCases",
                "parameters": [
                    _query("status", "only these statuses, comma-separated",
                           example="dispatched,accepted"),
                    _query("cell", "only these cells, comma-separated"),
                    _query("type", "only these types, comma-separated", example="fire,smoke"),
                    _query("assignee", "only cases assigned to this user; `me` for the caller"),
                    _query("level", "only cases at this level", {"type": "string", "enum": [t.value for t in Tier]}),
                    _query("overdue", "true: open and past due; false: the others", {"type": "boolean"}),
                    _query("limit", "page size (default 50, max 500)", {"type": "integer", "minimum": 1, "maximum": 500}),
                    _query("offset", "cases to skip", {"type": "integer", "minimum": 0}),
                ],
                "responses": {"200": _json(_ref("CaseList"), "One page and the total"),
                              "400": _error("BadRequest"), "401": _error("Unauthorized")},
                "security": _SECURED,
            },
            "post": {
                "summary": "Report a case by hand (roles: dispatcher, grid_worker, admin)",
                "operationId": "reportCase",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CaseReport")}}},
                "responses": {"201": _json(_ref("Case"), "The reported case; Location names it"),
                              "401": _error("Unauthorized"), "403": _error("Forbidden"),
                              "415": _error("UnsupportedMedia"), "422": _error("Unprocessable")},
                "security": _SECURED,
            },
        },
        "/api/cases/{id}": {"get": {
            "summary": "One case with its anomalies and its timeline (the audit log's rows of the case)",
            "operationId": "getCase",
            "parameters": [_CASE_ID],
            "responses": {"200": _json(_ref("CaseDetail"), "The case"), "401": _error("Unauthorized"),
                          "404": _error("NotFound")},
            "security": _SECURED,
        }},
        "/api/cases/{id}/transitions": {"post": {
            "summary": "Move a case: file, cancel, dispatch, reassign, accept, handle, close, reopen, evaluate",
            "description": "Roles: accept and handle are for the grid worker the case is assigned to; the others "
            "for dispatchers and admins. Checked in this order: the body's shape (422: a JSON object with an "
            "action and no other members than a transition takes), the case exists (404), the action and the role "
            "(422 for an unknown action, 401/403), the action in the case's status (409 lists the allowed ones), "
            "the action's fields (422 lists each problem).",
            "operationId": "transitionCase",
            "parameters": [_CASE_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Transition")}}},
            "responses": {"200": _json(_ref("Case"), "The case after the transition"),
                          "401": _error("Unauthorized"), "403": _error("Forbidden"), "404": _error("NotFound"),
                          "409": _error("IllegalTransition"), "415": _error("UnsupportedMedia"),
                          "422": _error("Unprocessable")},
            "security": _SECURED,
        }},
        "/api/audit": {"get": {
            "summary": "The audit log, oldest first (role: admin)",
            "operationId": "auditLog",
            "parameters": [
                _query("subject", "case, user or device", {"type": "string", "enum": ["case", "user", "device"]}),
                _query("id", "one case id or user name"),
                _query("actor", "only rows of this actor"),
                _query("action", "only this action", example="escalate"),
                _query("from", "at or after (RFC 3339 or epoch seconds)"),
                _query("to", "before (RFC 3339 or epoch seconds)"),
                _query("after", "only rows after this seq (paging)", {"type": "integer", "minimum": 0}),
                _query("limit", "at most this many (default 1000, max 10000)",
                       {"type": "integer", "minimum": 1, "maximum": 10000}),
            ],
            "responses": {"200": _json(_ref("AuditLog"), "Rows"), "400": _error("BadRequest"),
                          "401": _error("Unauthorized"), "403": _error("Forbidden")},
            "security": _SECURED,
        }},
        "/api/kpi": {"get": {
            "summary": "Governance figures per grid cell, street or district over a period (role: any)",
            "description": "Over the cases reported in from..to: resolution rate, on-time rate, mean "
            "satisfaction, warning accuracy, mean time to dispatch and to close, escalations, open and overdue "
            "now. A rate with nothing to divide by is null. `format=csv` answers text/csv with the same columns.",
            "operationId": "kpi",
            "parameters": [
                _query("level", "grid, street or district (default district)",
                       {"type": "string", "enum": list(GROUPS)}),
                _query("from", "start (inclusive), RFC 3339 or epoch seconds; default `to` minus 24 h"),
                _query("to", "end (exclusive), RFC 3339 or epoch seconds; default now"),
                _query("format", "json (default) or csv", {"type": "string", "enum": ["json", "csv"]}),
            ],
            "responses": {"200": {"description": "The figures",
                                  "content": {"application/json": {"schema": _ref("Kpi")},
                                              "text/csv": {"schema": {"type": "string"}}}},
                          "400": _error("BadRequest"), "401": _error("Unauthorized")},
            "security": _SECURED,
        }},
    }

