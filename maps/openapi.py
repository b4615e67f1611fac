"""The OpenAPI 3.1 description of the HTTP API, served at /api/openapi.json.

Written by hand next to the handlers; the tests check that it is valid, that it
names every route of the app, and that real responses match its schemas.
"""

from __future__ import annotations

from maps import cases_openapi, field_api, field_pages, history, pages
from twin.config import Settings
from twin.devices import DeviceKind, DeviceStatus
from twin.metrics import Level

_TIME = {"type": ["string", "null"], "format": "date-time"}
_LEVELS = [level.label for level in Level]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str, media: str = "application/json") -> dict:
    return {"description": description, "content": {media: {"schema": schema}}}


def _error(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _query(name: str, description: str, schema: dict | None = None, example: str | None = None) -> dict:
    param = {"name": name, "in": "query", "required": False, "description": description,
             "schema": schema or {"type": "string"}}
    if example is not None:
        param["example"] = example
    return param


_SCHEMAS = {
    "Error": {
        "type": "object",
        "description": "Every 4xx answer. `error` says what is wrong and how to fix it; `detail` names the "
        "parameter or lists the problems of a request body.",
        "required": ["error", "detail"],
        "properties": {"error": {"type": "string"}, "detail": {}},
    },
    "CellRef": {
        "type": "object",
        "required": ["code", "name", "path", "district"],
        "properties": {
            "code": {"type": "string", "description": "15-digit grid cell code"},
            "name": {"type": "string"},
            "path": {"type": "string", "description": "district > street > community > cell"},
            "district": {"type": "string", "description": "6-digit administrative division code"},
        },
    },
    "CellProperties": {
        "type": "object",
        "required": ["code", "name", "path", "district", "level", "values", "updated_at", "open_anomalies"],
        "properties": {
            "code": {"type": "string", "pattern": "^[0-9]{15}$"},
            "name": {"type": "string"},
            "path": {"type": "string"},
            "district": {"type": "string"},
            "worker": {"type": ["string", "null"], "description": "the responsible grid worker"},
            "level": {"type": "string", "enum": _LEVELS},
            "values": {"type": "object", "additionalProperties": {"type": "number"},
                       "description": "metric -> latest value (booleans as 0/1)"},
            "updated_at": _TIME | {"description": "time of the latest reading"},
            "open_anomalies": {"type": "integer", "minimum": 0},
        },
    },
    "CellFeature": {
        "type": "object",
        "required": ["type", "id", "geometry", "properties"],
        "properties": {
            "type": {"const": "Feature"},
            "id": {"type": "string"},
            "geometry": {"type": ["object", "null"], "description": "GeoJSON Polygon in WGS84; null with geometry=false"},
            "properties": _ref("CellProperties"),
        },
    },
    "CellCollection": {
        "type": "object",
        "required": ["type", "features"],
        "properties": {"type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": _ref("CellFeature")}},
    },
    "Series": {
        "type": "object",
        "required": ["cell", "metric", "unit", "from", "to", "bucket", "points", "truncated"],
        "properties": {
            "cell": {"type": "string"},
            "metric": {"type": "string"},
            "unit": {"type": "string"},
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "bucket": {"type": ["number", "null"], "description": "bucket width in seconds; null for raw readings"},
            "points": {"type": "array", "items": {"anyOf": [_ref("RawPoint"), _ref("BucketPoint")]}},
            "truncated": {"type": "boolean", "description": "true when `limit` cut the raw readings short"},
        },
    },
    "RawPoint": {
        "type": "object",
        "required": ["ts", "value", "device_id"],
        "properties": {"ts": {"type": "string", "format": "date-time"}, "value": {"type": "number"},
                       "device_id": {"type": "string"}},
    },
    "BucketPoint": {
        "type": "object",
        "required": ["ts", "count", "mean", "min", "max"],
        "properties": {"ts": {"type": "string", "format": "date-time", "description": "bucket start"},
                       "count": {"type": "integer"}, "mean": {"type": "number"},
                       "min": {"type": "number"}, "max": {"type": "number"}},
    },
    "Device": {
        "type": "object",
        "required": ["id", "kind", "name", "model", "metrics", "mobile", "lat", "lon", "cell", "status",
                     "registered_at", "last_seen"],
        "properties": {
            "id": {"type": "string"},
            "kind": {"type": "string", "enum": [k.value for k in DeviceKind]},
            "name": {"type": "string"},
            "model": {"type": "string"},
            "metrics": {"type": "array", "items": {"type": "string"}},
            "mobile": {"type": "boolean"},
            "lat": {"type": ["number", "null"]},
            "lon": {"type": ["number", "null"]},
            "cell": {"anyOf": [_ref("CellRef"), {"type": "null"}], "description": "the cell the device is in"},
            "status": {"type": "string", "enum": [s.value for s in DeviceStatus]},
            "registered_at": _TIME,
            "last_seen": _TIME,
        },
    },
    "DeviceInput": {
        "type": "object",
        "required": ["id", "kind"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"},
            "kind": {"type": "string", "enum": [k.value for k in DeviceKind]},
            "lat": {"type": "number", "minimum": -90, "maximum": 90, "description": "required unless mobile"},
            "lon": {"type": "number", "minimum": -180, "maximum": 180, "description": "required unless mobile"},
            "model": {"type": "string"},
            "metrics": {"type": "array", "items": {"type": "string"}, "description": "names from the metric catalog"},
            "mobile": {"type": "boolean", "default": False},
            "name": {"type": "string"},
        },
    },
    "DeviceList": {"type": "object", "required": ["devices"],
                   "properties": {"devices": {"type": "array", "items": _ref("Device")}}},
    "Anomaly": {
        "type": "object",
        "description": "The `data` of an org.gridtwin.anomaly.opened/cleared CloudEvent.",
        "required": ["anomaly_id", "type", "status", "severity", "cell", "device_id", "explanation", "ts"],
        "properties": {
            "anomaly_id": {"type": "string"},
            "type": {"type": "string", "examples": ["pm25_high", "smoke"]},
            "status": {"type": "string", "enum": ["opened", "cleared"]},
            "severity": {"type": "string", "enum": _LEVELS},
            "cell": _ref("CellRef"),
            "device_id": {"type": "string"},
            "metric": {"type": ["string", "null"]},
            "value": {"type": ["number", "null"]},
            "threshold": {"type": ["number", "null"]},
            "detector": {"type": "string"},
            "location": {"anyOf": [{"type": "object", "properties": {"lat": {"type": "number"},
                                                                      "lon": {"type": "number"}}},
                                   {"type": "null"}]},
            "explanation": {"type": "string"},
            "details": {"type": "object"},
            "ts": {"type": "string", "format": "date-time"},
        },
    },
    "EventList": {"type": "object", "required": ["events"],
                  "properties": {"events": {"type": "array", "items": _ref("Anomaly")}}},
    "Health": {
        "type": "object",
        "required": ["status", "store", "mqtt"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "failing"]},
            "store": {"type": "object", "required": ["ok"],
                      "properties": {"ok": {"type": "boolean"}, "error": {"type": ["string", "null"]}}},
            "mqtt": {"type": "object", "required": ["connected"], "properties": {"connected": {"type": "boolean"}}},
            "sse_clients": {"type": "integer"},
            "cells": {"type": "integer"},
        },
    },
}

_RESPONSES = {
    "BadRequest": _json(_ref("Error"), "A query parameter is missing, unknown or malformed."),
    "NotFound": _json(_ref("Error"), "No such cell or device."),
    "Conflict": _json(_ref("Error"), "The device is already registered."),
    "Unprocessable": _json(_ref("Error"), "The body is invalid; `detail` lists each problem as {field, message}."),
}

_CODE = {"name": "code", "in": "path", "required": True, "description": "15-digit cell code",
         "schema": {"type": "string"}, "example": "410204001001001"}


def openapi_document(settings: Settings) -> dict:
    """The API description; the metric catalog of `settings` fills the `metric` parameter's enum."""
    metrics = sorted(settings.metrics.names())
    paths = {
        "/": {"get": {
            "summary": "The live map page",
            "operationId": "mapPage",
            "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}},
        }},
        "/api/cells": {"get": {
            "summary": "Every cell with its geometry and current state",
            "operationId": "listCells",
            "parameters": [_query("geometry", "false leaves out geometries (state only)", {"type": "boolean", "default": True})],
            "responses": {"200": _json(_ref("CellCollection"), "GeoJSON FeatureCollection", "application/geo+json"),
                          "400": _error("BadRequest")},
        }},
        "/api/cells/{code}": {"get": {
            "summary": "One cell",
            "operationId": "getCell",
            "parameters": [_CODE],
            "responses": {"200": _json(_ref("CellFeature"), "GeoJSON Feature", "application/geo+json"),
                          "404": _error("NotFound")},
        }},
        "/api/cells/{code}/series": {"get": {
            "summary": "History of one metric in one cell: raw readings, or buckets with count/mean/min/max",
            "operationId": "cellSeries",
            "parameters": [
                _CODE,
                {"name": "metric", "in": "query", "required": True, "schema": {"type": "string", "enum": metrics},
                 "description": "a metric of the catalog"},
                _query("from", "start (inclusive): RFC 3339 with offset or epoch seconds; default `to` minus 24 h",
                       example="2026-11-29T08:00:00Z"),
                _query("to", "end (exclusive): RFC 3339 with offset or epoch seconds; default now", example="1795942800"),
                _query("bucket", "bucket width: seconds or a number with s, m, h, d; at most 10000 buckets",
                       example="5m"),
                _query("limit", "raw readings only: at most this many, oldest first (default 10000, max 100000)",
                       {"type": "integer", "minimum": 1, "maximum": 100000}),
            ],
            "responses": {"200": _json(_ref("Series"), "The series"), "400": _error("BadRequest"),
                          "404": _error("NotFound")},
        }},
        "/api/devices": {
            "get": {
                "summary": "Registered devices",
                "operationId": "listDevices",
                "parameters": [_query("cell", "only devices in this cell"),
                               _query("status", "only devices with this status",
                                      {"type": "string", "enum": [s.value for s in DeviceStatus]})],
                "responses": {"200": _json(_ref("DeviceList"), "Devices"), "400": _error("BadRequest")},
            },
            "post": {
                "summary": "Register a device; its cell is resolved from lat/lon",
                "operationId": "createDevice",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("DeviceInput")}}},
                "responses": {"201": _json(_ref("Device"), "The registered device with its cell"),
                              "409": _error("Conflict"),
                              "422": _error("Unprocessable")},
            },
        },
        "/api/devices/{id}": {"get": {
            "summary": "One device",
            "operationId": "getDevice",
            "parameters": [{"name": "id", "in": "path", "required": True, "description": "device id",
                            "schema": {"type": "string"}, "example": "aq-0012"}],
            "responses": {"200": _json(_ref("Device"), "The device"), "404": _error("NotFound")},
        }},
        "/api/events": {"get": {
            "summary": "Anomalies, newest first",
            "operationId": "listEvents",
            "parameters": [
                _query("cell", "only anomalies of this cell"),
                _query("from", "only anomalies at or after this time (RFC 3339 or epoch seconds)"),
                _query("open", "true: only anomalies opened and not yet cleared", {"type": "boolean"}),
                _query("limit", "at most this many (default 100, max 1000)",
                       {"type": "integer", "minimum": 1, "maximum": 1000}),
            ],
            "responses": {"200": _json(_ref("EventList"), "Anomalies"), "400": _error("BadRequest")},
        }},
        "/api/stream": {"get": {
            "summary": "Live changes as Server-Sent Events",
            "description": "Events: `hello` once on connect ({server_time, mqtt_connected}); `cell` when a cell's "
            "state changes ({code, name, path, level, values, updated_at, open_anomalies}); `anomaly` when one "
            "opens or clears (the Anomaly schema); `case` when a case changes (the `data` of the MQTT case "
            "update: case_id, seq, action, actor, at, from_status, to_status, note, details and the whole case). "
            "Nothing older than the connection is replayed: reload "
            "/api/cells?geometry=false after a reconnect. Comment lines every 15 s keep the connection open.",
            "operationId": "stream",
            "responses": {"200": {"description": "event stream",
                                  "content": {"text/event-stream": {"schema": {"type": "string"}}}}},
        }},
        "/api/openapi.json": {"get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
        }},
        "/metrics": {"get": {
            "summary": "Prometheus metrics: cells by level, stream clients, MQTT link, HTTP requests",
            "operationId": "metrics",
            "responses": {"200": {"description": "Prometheus text format 0.0.4",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }},
        "/healthz": {"get": {
            "summary": "Health: the store answers; whether the live feed is connected to the broker",
            "operationId": "health",
            "responses": {"200": _json(_ref("Health"), "The store answers (status degraded while MQTT is down)"),
                          "503": _json(_ref("Health"), "The store fails")},
        }},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{settings.web.title} HTTP API",
            "version": "1.0.0",
            "description": "Grid cells, their live state and history, devices and anomalies. "
            "Coordinates are WGS84; times are RFC 3339 (UTC) in answers and RFC 3339 or epoch seconds in queries. "
            "Every 4xx answer is JSON: {\"error\": ..., \"detail\": ...}. "
            "People log in (POST /api/login, a session cookie); integrators send a bearer token. Without either, a "
            "request has the anonymous role (viewer unless auth.anonymous says otherwise); registering a device "
            "needs the admin role, and each case action the role docs/cases.md gives it.",
        },
        "servers": [{"url": "/"}],
        "paths": (paths | history.openapi_paths() | pages.openapi_paths() | field_api.openapi_paths()
                  | field_pages.openapi_paths() | cases_openapi.paths()),
        "components": {"schemas": (_SCHEMAS | history.openapi_schemas() | field_api.openapi_schemas()
                                   | cases_openapi.schemas()),
                       "responses": _RESPONSES | cases_openapi.RESPONSES,
                       "securitySchemes": cases_openapi.SECURITY_SCHEMES},
    }
