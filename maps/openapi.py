"""The OpenAPI 3.1 description of the HTTP API, served at /api/openapi.json, generated from the app's
routes, the msgspec Structs of the bodies and answers (maps/bodies.py, maps/answers.py) and a little
metadata beside each handler:

    @operation("get", "One cell", answers={200: Answer(CellFeature, "GeoJSON Feature", GEOJSON), 404: NOT_FOUND})
    async def get_cell(request): ...

A route whose handler describes none of its methods fails the document, so nothing goes undescribed.
The answers every route can give (a control character in the query, credentials, a forged write, a
store that does not answer) are added by the kind of route, as the middleware gives them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from msgspec import Struct
from starlette.routing import BaseRoute, Route

from maps import answers
from twin.config import Settings
from twin.contract.schemas import load_schema

__all__ = ["BAD_REQUEST", "CONFLICT", "FORBIDDEN", "GEOJSON", "HTML", "NOT_FOUND", "Answer", "Operation",
           "openapi_document", "operation", "path_param", "query"]

H = TypeVar("H", bound=Callable)
Schema = dict[str, Any]
SchemaOf = Schema | Callable[[Settings], Schema]  # a schema, or one made from the settings (the metric catalog)

GEOJSON = "application/geo+json"
REF = "#/components/schemas/{name}"


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of an operation: its body's shape (a Struct, a schema, or None for none) and media type."""

    shape: type[Struct] | tuple[type[Struct], ...] | Schema | None  # a tuple: any one of them
    description: str
    media: str = "application/json"
    more: dict[str, Schema] = field(default_factory=dict)  # other media types of the same answer
    headers: dict[str, Schema] = field(default_factory=dict)


# Shared answers, written once in components/responses and referred to by name.
BAD_REQUEST = "BadRequest"
NOT_FOUND = "NotFound"
CONFLICT = "Conflict"
FORBIDDEN = "Forbidden"
HTML = Answer({"type": "string"}, "HTML page", "text/html")


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    answers: dict[int, Answer | str]
    params: tuple[dict, ...] = ()
    body: type[Struct] | None = None
    body_optional: bool = False
    description: str = ""
    public: bool = False  # needs no credentials even with auth.anonymous = "none"
    name: str = ""  # the handler's, for the operationId


_OPERATIONS: dict[Callable, dict[str, Operation]] = {}


def operation(method: str, summary: str, *, answers: dict[int, Answer | str], params: Iterable[dict] = (),
              body: type[Struct] | None = None, body_optional: bool = False, description: str = "",
              public: bool = False) -> Callable[[H], H]:
    """Describe what `method` on the decorated handler's route does (stack one per method)."""

    def describe(handler: H) -> H:
        _OPERATIONS.setdefault(handler, {})[method.lower()] = Operation(
            summary, answers, tuple(params), body, body_optional, description, public, handler.__name__)
        return handler

    return describe


def query(name: str, description: str, schema: SchemaOf | None = None, *, example: str | None = None,
          required: bool = False) -> dict:
    param = {"name": name, "in": "query", "required": required, "description": description,
             "schema": schema or {"type": "string"}}
    if example is not None:
        param["example"] = example
    return param


def path_param(name: str, description: str, example: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"},
            "example": example}


# -- the document ------------------------------------------------------------------------------
_ERROR = {"$ref": REF.format(name="Error")}


def _error(description: str, shape: str = "Error") -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": REF.format(name=shape)}}}}


RESPONSES = {
    "BadRequest": _error("A query parameter is missing, unknown or malformed, or the path or a parameter holds a "
                         "control character."),
    "Unauthorized": _error("No valid credentials: log in or send a bearer token (a bearer token that is not valid "
                           "is refused on every /api/ route)."),
    "Forbidden": _error("The user's role, or the case's assignment, does not allow this; or a write that looks "
                        "forged (`detail.reason` is `csrf`)."),
    "NotFound": _error("No such cell, device or case."),
    "Conflict": _error("The resource already exists, or it changed meanwhile."),
    "UnsupportedMedia": _error("A write with a session cookie must send JSON."),
    "Unprocessable": _error("The body is not JSON or breaks the rules; `detail` lists each problem as {field, "
                            "message}.", "Invalid"),
    "TooManyRequests": _error("Too many failed logins for the account or the address; `detail` has retry_after (s) "
                              "and scope (account or address).")
    | {"headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds until a login may be tried"}}},
    "Unavailable": _error("The store does not answer, so credentials cannot be checked; /healthz says more."),
}

SECURITY_SCHEMES = {
    "session": {"type": "apiKey", "in": "cookie", "name": "gridtwin_session",
                "description": "set by POST /api/login (signed, HttpOnly, SameSite=Lax); every write with it also "
                               "sends the session's CSRF token in X-CSRF-Token (403 without it)"},
    "bearer": {"type": "http", "scheme": "bearer", "description": "a token from `gridtwin users token NAME`"},
}
# {}: the anonymous role (viewer unless auth.anonymous = "none").
_SECURED: list[dict[str, list[str]]] = [{"session": []}, {"bearer": []}, {}]
_PATH_PARAM = re.compile(r"\{(\w+)\}")


def _answer(answer: Answer | str, settings: Settings, structs: set[type]) -> dict:
    if isinstance(answer, str):
        return {"$ref": f"#/components/responses/{answer}"}
    out: dict[str, Any] = {"description": answer.description}
    if answer.shape is not None:
        out["content"] = {answer.media: {"schema": _schema(answer.shape, settings, structs)}}
        out["content"] |= {media: {"schema": schema} for media, schema in answer.more.items()}
    if answer.headers:
        out["headers"] = {name: {"schema": schema} for name, schema in answer.headers.items()}
    return out


def _schema(shape: type[Struct] | tuple[type[Struct], ...] | SchemaOf, settings: Settings,
            structs: set[type]) -> Schema:
    if isinstance(shape, tuple):
        return {"anyOf": [_schema(one, settings, structs) for one in shape]}
    if isinstance(shape, type):
        structs.add(shape)
        return {"$ref": REF.format(name=shape.__name__)}
    return shape(settings) if callable(shape) else shape


def _operation(path: str, method: str, op: Operation, settings: Settings, structs: set[type], *,
               shared: bool) -> dict:
    responses = {str(status): _answer(answer, settings, structs) for status, answer in op.answers.items()}
    # What the middleware answers on any route of its kind, unless the operation says more.
    common = {"400": BAD_REQUEST}
    if path.startswith("/api/"):  # a role may lack the permission; a write may look forged
        common |= {"401": "Unauthorized", "403": FORBIDDEN, "503": "Unavailable"}
        if op.body is not None:
            common |= {"415": "UnsupportedMedia", "422": "Unprocessable"}
    for status, name in common.items():
        responses.setdefault(status, {"$ref": f"#/components/responses/{name}"})
    declared = {p["name"] for p in op.params if p["in"] == "path"}
    params = [{**p, "schema": _schema(p["schema"], settings, structs)} for p in op.params]
    params += [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
               for name in _PATH_PARAM.findall(path) if name not in declared]
    out: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op.name, method if shared else ""),
                           "responses": dict(sorted(responses.items()))}
    if op.description:
        out["description"] = op.description
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": not op.body_optional,
                              "content": {"application/json": {"schema": _schema(op.body, settings, structs)}}}
    if path.startswith("/api/"):
        out["security"] = [{}] if op.public else _SECURED
    return out


def _operation_id(handler: str, method: str) -> str:
    """The handler's name in camel case (cell_series: cellSeries), after the method when one handler
    serves several (devices: getDevices, postDevices)."""
    words = [w for w in handler.split("_") if w]
    text = "".join(w[:1].upper() + w[1:] for w in words)
    return method + text if method else text[:1].lower() + text[1:]


def openapi_document(settings: Settings, routes: Iterable[BaseRoute]) -> dict:
    """The API description of `routes`; the metric catalog of `settings` fills the `metric` parameter's enum."""
    paths: dict[str, dict] = {}
    # The schemas named by hand: shared answers, and the members of a union msgspec cannot express.
    structs: set[type] = {answers.Error, answers.Invalid, answers.RawPoint, answers.BucketPoint, answers.AuditEntry}
    for route in routes:
        if not isinstance(route, Route):
            continue  # static files
        described = _OPERATIONS.get(route.endpoint, {})
        for method in sorted(m.lower() for m in route.methods or () if m != "HEAD"):
            if method not in described:
                raise LookupError(f"{method.upper()} {route.path} is not described: decorate its handler with "
                                  "maps.openapi.operation")
            paths.setdefault(route.path, {})[method] = _operation(route.path, method, described[method], settings,
                                                                 structs, shared=len(described) > 1)
    _, schemas = msgspec.json.schema_components(sorted(structs, key=lambda s: s.__name__), ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{settings.web.title} HTTP API",
            "version": "1.0.0",
            "description": "Grid cells, their live state and history, devices and anomalies, the case loop and "
            "the field. Coordinates are WGS84; times are RFC 3339 (UTC) in answers and RFC 3339 or epoch seconds "
            "in queries. Every 4xx answer is JSON: {\"error\": ..., \"detail\": ...}. People log in (POST "
            "/api/login, a session cookie); integrators send a bearer token. Without either, a request has the "
            "anonymous role (viewer unless auth.anonymous says otherwise); each write needs the role "
            "docs/http-api.md gives it.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": dict(sorted((schemas | _case_schemas()).items())), "responses": RESPONSES,
                       "securitySchemes": SECURITY_SCHEMES},
    }


# -- the case, from the MQTT contract --------------------------------------------------------------
def _case_schemas() -> dict[str, Schema]:
    """The case object is the `case` of the MQTT case-update schema (docs/schemas/case-update.json), so HTTP
    and MQTT integrators read one description."""
    update = load_schema("case-update")
    case = _inline_common(update["$defs"]["case"])
    case["properties"]["id"] = update["$defs"]["caseId"]
    detail = {"allOf": [{"$ref": REF.format(name="Case")}], "type": "object", "required": ["anomaly_ids", "timeline"],
              "properties": {"anomaly_ids": {"type": "array", "items": {"type": "string"}},
                             "timeline": {"type": "array", "items": {"$ref": REF.format(name="AuditEntry")}}}}
    return {"Case": case, "CaseDetail": detail}


def _inline_common(schema: Schema) -> Schema:
    """`schema` with its refs to common.json written out, as an OpenAPI document holds no other file."""
    common = load_schema("common")["$defs"]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("common.json#/$defs/"):
                return walk({k: v for k, v in node.items() if k != "$ref"} | common[ref.rsplit("/", 1)[1]])
            if ref in ("#/$defs/cellCode", "#/$defs/districtCode"):
                return walk(common[ref.rsplit("/", 1)[1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)
