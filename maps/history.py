"""Replay of cell levels over a period, for the map wall's time slider.

    GET /api/cells/history?from=&to=&step=

A cell's level in the replay is the worst severity among its incident anomalies
open at some moment of a frame (`[from + i*step, from + (i+1)*step)`), or `normal`
when none was. Device-health alerts are left out, as they are from the live cell
level. The answer is sparse: the first frame lists every cell not normal, each
later frame only the cells whose level changed, so 24 hours of 10,000 cells stay a
few kilobytes.

Intervals come from two indexed queries: the anomaly rows since `from` (an anomaly
cleared in the period without being opened in it was open at `from`) and the
anomalies open now (opened before `from` and never cleared: open all along).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from maps.answers import CellHistory
from maps.context import context
from maps.errors import BadRequest
from maps.openapi import Answer, operation, query
from maps.params import check_known, parse_bucket, parse_time
from twin.grid.cells import Grid
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.times import rfc3339

__all__ = ["MAX_FRAMES", "ROW_LIMIT", "Interval", "cell_history", "intervals", "replay"]

MAX_FRAMES = 2000
ROW_LIMIT = 100_000  # anomaly rows read per request; more marks the answer truncated
DEFAULT_SPAN = 86_400.0
DEFAULT_STEP = 300.0
_LABELS = {0: Level.NORMAL.label, 1: Level.WARNING.label, 2: Level.CRITICAL.label}


@dataclass(frozen=True, slots=True)
class Interval:
    """One anomaly's open time in one cell: [start, end), end None while still open."""

    cell_code: str
    severity: int  # 1 warning, 2 critical
    start: float
    end: float | None


def intervals(rows: Iterable[Anomaly], open_now: Iterable[Anomaly], start: float, grid: Grid) -> list[Interval]:
    """Open intervals of incident anomalies from the rows since `start` and the anomalies open now.

    >>> from shapely.geometry import box
    >>> from twin.grid import Cell
    >>> grid = Grid([Cell("410204001001001", "Grid 001", box(0, 0, 1, 1))])
    >>> a = lambda id, status, ts: Anomaly(id, "pm25_high", status, Level.WARNING, "410204001001001", "aq-1",
    ...                                    "threshold", ts, "")
    >>> intervals([a("x", "cleared", 50.0)], [], 10.0, grid)   # opened before the period
    [Interval(cell_code='410204001001001', severity=1, start=10.0, end=50.0)]
    >>> intervals([a("y", "cleared", 50.0), a("y", "opened", 20.0)], [], 10.0, grid)   # rows come newest first
    [Interval(cell_code='410204001001001', severity=1, start=20.0, end=50.0)]
    >>> intervals([], [a("z", "opened", 5.0)], 10.0, grid)      # open all along
    [Interval(cell_code='410204001001001', severity=1, start=10.0, end=None)]
    >>> intervals([], [], 10.0, grid)
    []
    """
    opened: dict[str, Anomaly] = {}
    cleared: dict[str, float] = {}
    for a in [*rows, *open_now]:
        if not a.is_incident or a.cell_code not in grid.by_code or a.severity < Level.WARNING:
            continue
        if a.status == "opened":
            held = opened.get(a.id)
            if held is None or held.status != "opened":
                opened[a.id] = a
        else:
            cleared[a.id] = a.ts
            opened.setdefault(a.id, a)  # the cleared row carries the cell and severity too
    out = []
    for anomaly_id, a in opened.items():
        begin = a.ts if a.status == "opened" else start
        out.append(Interval(a.cell_code, int(a.severity), max(begin, start), cleared.get(anomaly_id)))
    return out


def replay(spans: list[Interval], start: float, end: float, step: float) -> list[dict]:
    """Frames of the period: per frame its start time, the counts of warning and critical cells, and
    the cells whose level differs from the frame before (all cells not normal in the first)."""
    frames = max(1, math.ceil((end - start) / step - 1e-9))
    inside = [s for s in spans if s.start < end and (s.end is None or s.end >= start)]
    codes = sorted({s.cell_code for s in inside})
    row_of = {code: i for i, code in enumerate(codes)}
    levels = np.zeros((len(codes), frames), dtype=np.int8)
    if inside:
        rows = np.array([row_of[s.cell_code] for s in inside])
        first = np.array([s.start for s in inside])
        last = np.array([min(end, s.end if s.end is not None else end) for s in inside])
        i0 = np.clip(((first - start) // step).astype(int), 0, frames - 1)
        # An interval reaching just up to a frame boundary does not touch the next frame; one that
        # opened and cleared at the same moment still shows in its frame.
        i1 = np.clip(np.ceil((last - start) / step).astype(int) - 1, i0, frames - 1)
        severity = np.array([s.severity for s in inside])
        for level in (1, 2):  # a difference array per severity: +1 where an interval starts, -1 after it
            pick = severity == level
            diff = np.zeros((len(codes), frames + 1), dtype=np.int32)
            np.add.at(diff, (rows[pick], i0[pick]), 1)
            np.add.at(diff, (rows[pick], i1[pick] + 1), -1)
            levels = np.where(np.cumsum(diff[:, :frames], axis=1) > 0, np.int8(level), levels)
    out = []
    previous = np.zeros(len(codes), dtype=np.int8)
    for i in range(frames):
        column = levels[:, i]
        changed = np.nonzero(column != previous)[0]
        out.append({
            "t": rfc3339(start + i * step),
            "warning": int(np.count_nonzero(column == 1)),
            "critical": int(np.count_nonzero(column == 2)),
            "changes": {codes[j]: _LABELS[int(column[j])] for j in changed},
        })
        previous = column
    return out


def _step(text: str) -> float:
    try:
        return parse_bucket(text)
    except BadRequest as exc:  # the parser names its own parameter, bucket
        raise BadRequest(exc.message.replace("bucket:", "step:", 1), {"parameter": "step", "value": text}) from None


@operation("get", "Cell levels over a period, frame by frame (the map wall's replay)", params=[
    query("from", "start (inclusive): RFC 3339 with offset or epoch seconds; default `to` minus 24 h"),
    query("to", "end (exclusive): RFC 3339 with offset or epoch seconds; default now"),
    query("step", f"frame width: seconds or a number with s, m, h, d (default 5m); at most {MAX_FRAMES} frames",
          example="5m"),
], answers={200: Answer(CellHistory, "The frames")},
    description="A cell's level in a frame is the worst severity of its incident anomalies open at some moment of "
    "the frame, `normal` when none was (device-health alerts are left out). The first frame lists every cell that "
    "is not normal; each later frame only the cells whose level changed.")
async def cell_history(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("from", "to", "step"))
    ctx = context(request)
    end = parse_time("to", query["to"]) if "to" in query else time.time()
    start = parse_time("from", query["from"]) if "from" in query else end - DEFAULT_SPAN
    step = _step(query["step"]) if "step" in query else DEFAULT_STEP
    if start >= end:
        raise BadRequest(f"from ({rfc3339(start)}) must be before to ({rfc3339(end)})",
                         {"from": rfc3339(start), "to": rfc3339(end)})
    if (end - start) / step > MAX_FRAMES:
        raise BadRequest(f"step: {query.get('step', '300')!r} over this span makes {math.ceil((end - start) / step)} "
                         f"frames; the most is {MAX_FRAMES}: widen the step or shorten from..to",
                         {"parameter": "step", "value": query.get("step")})

    def compute() -> bytes:
        rows = ctx.store.anomalies(start=start, limit=ROW_LIMIT + 1)
        open_now = ctx.store.anomalies(open_only=True, limit=ROW_LIMIT)
        spans = intervals(rows[:ROW_LIMIT], open_now, start, ctx.grid)
        body = {"from": rfc3339(start), "to": rfc3339(end), "step": step,
                "frames": replay(spans, start, end, step), "truncated": len(rows) > ROW_LIMIT}
        return orjson.dumps(body)

    return Response(await run_in_threadpool(compute), media_type="application/json")
