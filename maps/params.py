"""Query parameters of the HTTP API, parsed strictly: a bad value raises BadRequest naming the
parameter, the value and the accepted forms."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse

from maps.errors import BadRequest

_BUCKET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_time(name: str, text: str) -> float:
    """RFC 3339 with an offset, or Unix epoch seconds, -> epoch seconds.

    >>> parse_time("from", "2026-11-29T08:00:00Z")
    1795939200.0
    >>> parse_time("from", "1795939200.5")
    1795939200.5
    >>> parse_time("from", "2026-11-29T08:00:00")
    Traceback (most recent call last):
    ...
    maps.errors.BadRequest: from: '2026-11-29T08:00:00' has no UTC offset; add 'Z' or '+08:00'
    """
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise BadRequest(f"{name}: {text!r} is not a finite number of epoch seconds", {"parameter": name})
        return value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{name}: {text!r} is not a time; use RFC 3339 (2026-11-29T08:00:00Z) or Unix epoch seconds",
            {"parameter": name, "value": text},
        ) from None
    if moment.tzinfo is None:
        raise BadRequest(
            f"{name}: {text!r} has no UTC offset; add 'Z' or '+08:00'", {"parameter": name, "value": text}
        )
    return moment.timestamp()


def parse_bucket(text: str) -> float:
    """A bucket width: seconds (`300`) or a number with a unit s, m, h or d (`5m`, `1h`).

    >>> parse_bucket("5m"), parse_bucket("300"), parse_bucket("1.5h")
    (300.0, 300.0, 5400.0)
    """
    match = _BUCKET.match(text)
    if not match:
        raise BadRequest(
            f"bucket: {text!r} is not a duration; use seconds (300) or a number with s, m, h or d (5m, 1h)",
            {"parameter": "bucket", "value": text},
        )
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 1:
        raise BadRequest(f"bucket: {text!r} is shorter than 1 second", {"parameter": "bucket", "value": text})
    return seconds


def parse_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadRequest(f"{name}: {text!r} is not a boolean; use true or false", {"parameter": name, "value": text})


def parse_limit(query: Mapping[str, str], default: int, maximum: int) -> int:
    text = query.get("limit")
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise BadRequest(
            f"limit: {text!r} is not a whole number from 1 to {maximum}", {"parameter": "limit", "value": text}
        )
    return value


def check_known(query: Mapping[str, str], known: tuple[str, ...]) -> None:
    """Refuse parameters the endpoint does not take, so a typo (`?cel=`) is not silently ignored."""
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise BadRequest(
            f"unknown query parameter(s) {', '.join(unknown)}; this endpoint takes {', '.join(known) or 'none'}",
            {"unknown": unknown, "known": list(known)},
        )


class RefuseControlCharacters:
    """Pure ASGI: a request whose path or query parameters hold a NUL or another control character is
    answered 400 before any handler runs. No code, id, name or filter has one, and PostgreSQL cannot
    even compare text holding a NUL, so it would otherwise end as a store error."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            problem = _control_character(scope)
            if problem is not None:
                error = BadRequest(problem, {"parameter": None})
                await JSONResponse(error.body(), status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_character(scope) -> str | None:
    if _CONTROL.search(scope["path"]):
        return "the path holds a control character (such as NUL); no code or id has one"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if _CONTROL.search(name) or _CONTROL.search(value):
            return f"{name[:40]!r}: the value holds a control character (such as NUL); no filter or name has one"
    return None
