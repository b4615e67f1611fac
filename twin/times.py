"""Times as the twin writes them for people and integrators: RFC 3339 in UTC, to the millisecond."""

from __future__ import annotations

from datetime import datetime, timezone


def rfc3339(ts: float | None) -> str | None:
    """Unix epoch seconds -> '2026-11-29T08:00:00.123Z' (millisecond precision, UTC).

    >>> rfc3339(1_764_403_200.1234)
    '2025-11-29T08:00:00.123Z'
    >>> rfc3339(None) is None
    True
    """
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
