"""The HTTP API over httpx's ASGI transport, against a real SQLite store."""

from __future__ import annotations

import httpx
import pytest

from maps.app import create_app
from tests.maps.common import CODES, T0, A, B, C, E, centre, sample
from twin.times import rfc3339


def assert_error(response, status: int, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}
    for fragment in fragments:
        assert fragment in body["error"], body["error"]
    return body


# -- cells -----------------------------------------------------------------------------
async def test_cells_are_a_feature_collection_with_state(client):
    response = await client.get("/api/cells")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    features = {f["properties"]["code"]: f for f in body["features"]}
    assert list(features) == CODES
    a, b, e = features[A]["properties"], features[B]["properties"], features[E]["properties"]
    assert a["level"] == "normal" and a["values"] == {"pm25": 29.0, "noise_db": 55.0}
    assert a["updated_at"] == "2026-11-29T08:09:00.000Z"
    assert a["path"] == "Gulou District > Xiangguo Street > Shudian Community > Grid 001"
    assert a["district"] == "410204" and a["name"] == "Grid 001"
    assert e["level"] == "warning" and e["open_anomalies"] == 1
    assert b["level"] == "no_data" and b["values"] == {} and b["updated_at"] is None
    geometry = features[A]["geometry"]
    assert geometry["type"] == "Polygon"
    lons = [p[0] for p in geometry["coordinates"][0]]
    assert min(lons) == pytest.approx(114.340) and max(lons) == pytest.approx(114.342)


async def test_cells_without_geometry(client):
    body = (await client.get("/api/cells?geometry=false")).json()
    assert all(f["geometry"] is None for f in body["features"])
    assert {f["properties"]["level"] for f in body["features"]} == {"normal", "warning", "no_data"}


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("geometry=maybe", "geometry: 'maybe' is not a boolean"),  # bad boolean
        ("bbox=1,2,3,4", "unknown query parameter(s) bbox"),  # a typo or unsupported filter is not ignored
    ],
)
async def test_cells_bad_parameters(client, query, fragment):
    assert_error(await client.get(f"/api/cells?{query}"), 400, fragment)


async def test_one_cell(client):
    response = await client.get(f"/api/cells/{E}")
    assert response.status_code == 200
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == E
    assert feature["properties"]["level"] == "warning"
    assert feature["properties"]["worker"] == "worker-5"


async def test_unknown_cell_is_404(client):
    body = assert_error(await client.get("/api/cells/410204001001999"), 404, "cell 410204001001999 is not in the grid")
    assert body["detail"] == {"code": "410204001001999"}


# -- series ----------------------------------------------------------------------------
async def test_raw_series(client):
    response = await client.get(f"/api/cells/{A}/series", params={"metric": "pm25", "from": T0, "to": T0 + 600})
    assert response.status_code == 200
    body = response.json()
    assert body["cell"] == A and body["metric"] == "pm25" and body["unit"] == "ug/m3"
    assert body["bucket"] is None and body["truncated"] is False
    assert body["from"] == "2026-11-29T08:00:00.000Z" and body["to"] == "2026-11-29T08:10:00.000Z"
    assert [p["value"] for p in body["points"]] == [20.0 + i for i in range(10)]
    assert body["points"][1] == {"ts": "2026-11-29T08:01:00.000Z", "value": 21.0, "device_id": "aq-1"}


async def test_raw_series_limit_truncates(client):
    body = (await client.get(f"/api/cells/{A}/series?metric=pm25&from={T0}&to={T0 + 600}&limit=3")).json()
    assert [p["value"] for p in body["points"]] == [20.0, 21.0, 22.0]
    assert body["truncated"] is True


async def test_series_times_in_rfc3339_and_epoch_agree(client):
    as_text = await client.get(
        f"/api/cells/{A}/series",
        params={"metric": "pm25", "from": "2026-11-29T16:02:00+08:00", "to": "2026-11-29T08:05:00Z"},
    )
    as_epoch = await client.get(f"/api/cells/{A}/series?metric=pm25&from={T0 + 120}&to={T0 + 300}")
    assert as_text.json() == as_epoch.json()
    assert [p["value"] for p in as_text.json()["points"]] == [22.0, 23.0, 24.0]


@pytest.mark.parametrize("bucket", ["5m", "300", "300s", "0.0833333333333333333h"])
async def test_bucketed_series(client, bucket):
    body = (await client.get(f"/api/cells/{A}/series?metric=pm25&from={T0}&to={T0 + 600}&bucket={bucket}")).json()
    assert body["bucket"] == pytest.approx(300.0)
    assert [p["ts"] for p in body["points"]] == [rfc3339(T0), rfc3339(T0 + 300)]
    first, second = body["points"]
    assert (first["count"], first["mean"], first["min"], first["max"]) == (5, 22.0, 20.0, 24.0)
    assert (second["count"], second["mean"], second["min"], second["max"]) == (5, 27.0, 25.0, 29.0)


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("", "metric is required"),  # no metric
        ("metric=radon", "metric: 'radon' is not in the metric catalog"),  # not in the catalog
        ("metric=pm25&from=yesterday", "from: 'yesterday' is not a time"),  # not a time at all
        ("metric=pm25&from=2026-11-29T08:00:00", "has no UTC offset"),  # naive time
        ("metric=pm25&from=nan", "not a finite number"),  # epoch must be finite
        (f"metric=pm25&from={T0 + 10}&to={T0}", "must be before to"),  # reversed span
        ("metric=pm25&bucket=5parsecs", "bucket: '5parsecs' is not a duration"),  # bad unit
        ("metric=pm25&bucket=0", "shorter than 1 second"),  # zero-width buckets
        (f"metric=pm25&from={T0 - 86400 * 30}&to={T0}&bucket=1s", "the most is 10000"),  # too many buckets
        ("metric=pm25&bucket=5m&limit=10", "limit applies to raw readings only"),  # limit with buckets
        ("metric=pm25&limit=0", "limit: '0' is not a whole number from 1 to 100000"),  # limit out of range
        ("metric=pm25&step=5m", "unknown query parameter(s) step"),  # unknown parameter
    ],
)
async def test_series_bad_parameters(client, query, fragment):
    assert_error(await client.get(f"/api/cells/{A}/series?{query}"), 400, fragment)


async def test_series_of_unknown_cell_is_404(client):
    assert_error(await client.get("/api/cells/999999999999999/series?metric=pm25"), 404, "not in the grid")


# -- devices ---------------------------------------------------------------------------
async def test_list_devices_and_filters(client):
    everything = (await client.get("/api/devices")).json()["devices"]
    assert sorted(d["id"] for d in everything) == ["aq-1", "aq-2", "cam-1"]
    in_a = (await client.get(f"/api/devices?cell={A}")).json()["devices"]
    assert [d["id"] for d in in_a] == ["aq-1"]
    online = (await client.get("/api/devices?status=online")).json()["devices"]
    assert sorted(d["id"] for d in online) == ["aq-1", "cam-1"]
    assert_error(await client.get("/api/devices?status=asleep"), 400, "status: 'asleep' is not a device status")


async def test_get_device(client):
    device = (await client.get("/api/devices/aq-1")).json()
    assert device["kind"] == "sensor" and device["name"] == "Gate sensor"
    assert device["metrics"] == ["pm25", "noise_db"]
    assert device["cell"] == {"code": A, "name": "Grid 001", "district": "410204",
                              "path": "Gulou District > Xiangguo Street > Shudian Community > Grid 001"}
    assert device["status"] == "online" and device["last_seen"] == "2026-11-29T08:05:00.000Z"
    assert_error(await client.get("/api/devices/nope-9"), 404, "device nope-9 is not registered")


async def test_register_device_resolves_its_cell(client):
    lat, lon = centre(C)
    body = {"id": "aq-new", "kind": "sensor", "lat": lat, "lon": lon, "model": "AQ-3", "metrics": ["pm25"],
            "name": "Market sensor"}
    response = await client.post("/api/devices", json=body)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/devices/aq-new"
    created = response.json()
    assert created["id"] == "aq-new" and created["cell"]["code"] == C
    assert created["model"] == "AQ-3" and created["name"] == "Market sensor" and created["mobile"] is False
    assert (await client.get("/api/devices/aq-new")).json()["cell"]["code"] == C
    assert_error(await client.post("/api/devices", json=body), 409, "device aq-new is already registered")


async def test_register_camera(client):
    lat, lon = centre(B)
    response = await client.post("/api/devices", json={"id": "cam-9", "kind": "camera", "lat": lat, "lon": lon})
    assert response.status_code == 201
    assert response.json()["kind"] == "camera" and response.json()["cell"]["code"] == B


async def test_register_outside_the_grid_is_422_with_the_twin_message(client):
    body = {"id": "far-1", "kind": "sensor", "lat": 39.9, "lon": 116.4}
    error = assert_error(await client.post("/api/devices", json=body), 422, "far-1", "outside every grid cell")
    assert "lat before lon" in error["error"]
    assert_error(await client.get("/api/devices/far-1"), 404)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "sensor", "lat": 34.79, "lon": 114.34}, "id"),  # id missing
        ({"id": "a/b", "kind": "sensor", "lat": 34.79, "lon": 114.34}, "id"),  # '/' breaks MQTT topics
        ({"id": "x-1", "kind": "drone", "lat": 34.79, "lon": 114.34}, "kind"),  # unknown kind
        ({"id": "x-1", "kind": "sensor", "lat": 95, "lon": 114.34}, "lat"),  # beyond the pole
        ({"id": "x-1", "kind": "sensor", "lat": "34.79", "lon": 114.34}, "lat"),  # a string, not a number
        ({"id": "x-1", "kind": "sensor", "lon": 114.34}, "lat"),  # a fixed device needs a place
        ({"id": "x-1", "kind": "sensor", "lat": 34.79, "lon": 114.34, "colour": "red"}, "colour"),  # unknown field
        ({"id": "x-1", "kind": "sensor", "lat": 34.79, "lon": 114.34, "metrics": ["radon"]}, "metrics"),  # not in catalog
        ({"id": "x-1", "kind": "sensor", "lat": 34.79, "lon": 114.34, "metrics": "pm25"}, "metrics"),  # not a list
        ({"id": "x-1", "kind": "sensor", "lat": 34.79, "lon": 114.34, "mobile": "yes"}, "mobile"),  # not a boolean
        ([{"id": "x-1"}], None),  # an array, not an object
    ],
)
async def test_register_invalid_body_is_422(client, body, field):
    error = assert_error(await client.post("/api/devices", json=body), 422)
    assert field in [problem["field"] for problem in error["detail"]]
    if field is not None:
        assert f"{field}: " in error["error"]
    assert_error(await client.get("/api/devices/x-1"), 404)


async def test_register_malformed_json_is_422(client):
    response = await client.post("/api/devices", content=b'{"id": "x-1",', headers={"content-type": "application/json"})
    assert_error(response, 422, "not valid JSON")


# -- events ----------------------------------------------------------------------------
async def test_events_newest_first_in_the_cloudevent_shape(client):
    events = (await client.get("/api/events")).json()["events"]
    assert [(e["anomaly_id"], e["status"]) for e in events] == [("an-2", "cleared"), ("an-2", "opened"), ("an-1", "opened")]
    first = events[-1]
    assert first["cell"]["code"] == E and first["cell"]["path"].endswith("Grid 005")
    assert first["severity"] == "warning" and first["metric"] == "pm25" and first["threshold"] == 75.0
    assert first["ts"] == "2026-11-29T08:01:00.000Z"
    assert "explanation" in first and "device_id" in first


@pytest.mark.parametrize(
    "query, expected",
    [
        ("open=true", [("an-1", "opened")]),  # an-2 was cleared
        (f"cell={E}", [("an-1", "opened")]),  # one cell
        (f"from={T0 + 150}", [("an-2", "cleared")]),  # since a time
        ("from=2026-11-29T08:01:40Z", [("an-2", "cleared"), ("an-2", "opened")]),  # RFC 3339 too, inclusive
        ("limit=1", [("an-2", "cleared")]),  # newest only
    ],
)
async def test_event_filters(client, query, expected):
    events = (await client.get(f"/api/events?{query}")).json()["events"]
    assert [(e["anomaly_id"], e["status"]) for e in events] == expected


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("open=perhaps", "open: 'perhaps' is not a boolean"),
        ("limit=5000", "limit: '5000' is not a whole number from 1 to 1000"),
        ("from=noon", "from: 'noon' is not a time"),
        ("severity=critical", "unknown query parameter(s) severity"),
    ],
)
async def test_events_bad_parameters(client, query, fragment):
    assert_error(await client.get(f"/api/events?{query}"), 400, fragment)


# -- health, metrics, errors -----------------------------------------------------------
async def test_healthz_reports_store_and_mqtt(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["store"] == {"ok": True, "error": None}
    assert body["mqtt"] == {"connected": False}  # nothing listens on the configured broker port
    assert body["status"] == "degraded" and body["cells"] == 6


async def test_healthz_is_503_when_the_store_fails(client, store):
    store.close()
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["store"]["ok"] is False and response.json()["status"] == "failing"


async def test_metrics(client):
    await client.get("/api/cells")
    await client.get("/api/cells/410204001001999")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert sample(text, "gridtwin_web_cells", level="normal") == 1
    assert sample(text, "gridtwin_web_cells", level="warning") == 1
    assert sample(text, "gridtwin_web_cells", level="no_data") == 4
    assert sample(text, "gridtwin_web_sse_clients") == 0
    assert sample(text, "gridtwin_web_mqtt_connected") == 0
    assert sample(text, "gridtwin_web_http_requests_total", route="/api/cells", method="GET", status="200") == 1
    assert sample(text, "gridtwin_web_http_requests_total", route="/api/cells/{code}", method="GET", status="404") == 1
    assert "# TYPE gridtwin_web_http_requests_total counter" in text


async def test_metrics_in_openmetrics_when_the_scraper_asks(client):
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n") and "# TYPE gridtwin_web_sse_events counter" in response.text


async def test_each_app_counts_its_own_requests(client, settings, store, grid):
    other = create_app(settings, store=store, grid=grid)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://gridtwin.test") as c:
        await client.get("/api/cells")
        text = (await c.get("/metrics")).text
    assert sample(text, "gridtwin_web_http_requests_total", route="/api/cells", method="GET", status="200") is None
    assert sample((await client.get("/metrics")).text, "gridtwin_web_http_requests_total", route="/api/cells",
                  method="GET", status="200") == 1


async def test_unknown_route_and_method_are_json(client):
    assert_error(await client.get("/api/nothing-here"), 404, "GET /api/nothing-here")
    response = await client.delete("/api/cells")
    assert_error(response, 405, "DELETE is not allowed on /api/cells")
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}
    response = await client.put("/api/devices", json={})
    assert_error(response, 405, "PUT is not allowed on /api/devices; use GET, HEAD, POST")


async def test_map_page_is_served_with_local_assets(client):
    response = await client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert '<script src="/static/vendor/leaflet/leaflet.js"></script>' in response.text
    assert "cdn" not in response.text.lower()
    for asset in ("/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css",
                  "/static/gridtwin/js/map.js", "/static/gridtwin/css/map.css"):
        assert (await client.get(asset)).status_code == 200, asset
