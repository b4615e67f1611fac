"""GET /api/cells/history: cell levels frame by frame from the stored anomalies, against a real SQLite store."""

from __future__ import annotations

import pytest

from maps.history import Interval, replay
from tests.maps.common import T0, A, B, C, D, E
from tests.maps.test_api import assert_error
from twin.sensing.anomalies import DEVICE_HEALTH, Anomaly
from twin.sensing.catalog import Level
from twin.times import rfc3339

# The fixture store (tests/maps/common.fill_store) has an-1 (warning in E) opened at T0+60 and
# never cleared, and an-2 (warning in A) opened at T0+100 and cleared at T0+200.
START, STEP = T0 + 3600, 600.0  # frames of 10 minutes from 09:00


def anomaly(id_, status, severity, cell, ts, **kw) -> Anomaly:
    return Anomaly(id_, "pm25_high", status, severity, cell, "aq-1", "threshold", ts, "", **kw)


@pytest.fixture
def history_store(store):
    store.write_anomalies([
        # B: warning from 09:05 to 09:25, critical inside it from 09:12 to 09:14 (worst wins in its frame)
        anomaly("h-1", "opened", Level.WARNING, B, START + 300),
        anomaly("h-1", "cleared", Level.WARNING, B, START + 1500),
        anomaly("h-2", "opened", Level.CRITICAL, B, START + 720),
        anomaly("h-2", "cleared", Level.CRITICAL, B, START + 840),
        # C: critical opened before the period, cleared in its second frame
        anomaly("h-3", "opened", Level.CRITICAL, C, START - 5000),
        anomaly("h-3", "cleared", Level.CRITICAL, C, START + 700),
        # D: a device-health alert, never part of a cell's level
        anomaly("h-4", "opened", Level.CRITICAL, D, START + 100, category=DEVICE_HEALTH),
    ])
    return store


async def test_frames_replay_levels_from_anomalies(client, history_store):
    response = await client.get(f"/api/cells/history?from={START}&to={START + 3 * STEP}&step=10m")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["step"], body["truncated"]) == (rfc3339(START), rfc3339(START + 1800),
                                                                             600.0, False)
    frames = body["frames"]
    assert [f["t"] for f in frames] == [rfc3339(START + i * STEP) for i in range(3)]
    # Frame 0 (09:00-09:10): E open all along (opened at 08:01), C open since before, B's warning opens at 09:05.
    assert frames[0]["changes"] == {E: "warning", C: "critical", B: "warning"}
    # Frame 1 (09:10-09:20): B's critical spike; C cleared at 09:11:40, still critical for part of the frame.
    assert frames[1]["changes"] == {B: "critical"}
    # Frame 2 (09:20-09:30): B back to warning, C normal.
    assert frames[2]["changes"] == {B: "warning", C: "normal"}
    assert [(f["critical"], f["warning"]) for f in frames] == [(1, 2), (2, 1), (0, 2)]
    assert D not in {code for f in frames for code in f["changes"]}  # device health left out
    assert A not in {code for f in frames for code in f["changes"]}  # an-2 cleared before the period


async def test_default_period_is_the_last_24_hours_in_5_minute_frames(client):
    body = (await client.get("/api/cells/history")).json()
    assert body["step"] == 300.0 and len(body["frames"]) == 288


@pytest.mark.parametrize("query, fragment", [
    ("step=1s&from=0&to=86400", "frames; the most is 2000"),  # too many frames
    (f"from={T0}&to={T0}", "must be before"),  # an empty period
    ("step=soon", "step: 'soon' is not a duration"),  # the parse error names the parameter it checked
    ("bucket=5m", "unknown query parameter(s) bucket"),  # series' parameter name is not this one's
])
async def test_bad_parameters(client, query, fragment):
    assert_error(await client.get(f"/api/cells/history?{query}"), 400, fragment)


def test_replay_edges():
    spans = [
        Interval(A, 1, 0.0, 10.0),  # ends exactly on the first frame boundary: not in the second frame
        Interval(B, 2, 15.0, 15.0),  # opened and cleared at once: still shows in its frame
        Interval(C, 1, 25.0, None),  # still open: to the end
    ]
    frames = replay(spans, 0.0, 30.0, 10.0)
    assert [f["changes"] for f in frames] == [{A: "warning"}, {A: "normal", B: "critical"},
                                              {B: "normal", C: "warning"}]
    assert replay([], 0.0, 5.0, 10.0)[0] == {"t": rfc3339(0.0), "warning": 0, "critical": 0, "changes": {}}
