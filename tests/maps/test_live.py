"""Live updates: MQTT messages and store changes reach Server-Sent Events clients."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import orjson
import pytest

from maps.app import create_app
from maps.hub import Hub
from maps.live import AnomalyMessage, CellBoard, CellStateMessage, decode
from tests.maps.common import T0, A, B, C, D, SSEReader, publish, sample, serving, small_grid, state_message, wait_until
from twin.contract.cloudevents import anomaly_event
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState

PREFIX = "gridtwin/v1"


# -- decoding and the board ------------------------------------------------------------
def state_payload(**data) -> bytes:
    return orjson.dumps({"specversion": "1.0", "type": "org.gridtwin.cell.state", "data": data})


@pytest.mark.parametrize(
    "topic, payload, problem",
    [
        (f"{PREFIX}/cells/410204/{A}/state", b"{not json", "not JSON"),  # broken JSON
        (f"{PREFIX}/cells/410204/{A}/state", b"[1, 2]", "no JSON object"),  # JSON, but not an object
        (f"{PREFIX}/cells/410204/{A}/state", state_payload(level="purple"), "malformed"),  # unknown level
        (f"{PREFIX}/cells/410204/{A}/state", state_payload(level="normal", values={"pm25": "x"}), "malformed"),
        (f"{PREFIX}/events/410204/{A}/smoke", orjson.dumps({"data": {"type": "smoke"}}), "lacks anomaly_id"),
        (f"{PREFIX}/cases/410204/c-1", orjson.dumps({"data": {}}), "lacks case_id"),  # a case update without one
        (f"{PREFIX}/deadletter/schema", orjson.dumps({"data": {}}), "neither"),  # not subscribed by the feed
        (f"other/v1/cells/410204/{A}/state", state_payload(level="normal"), "neither"),  # another prefix
    ],
)
def test_decode_refuses_bad_messages(topic, payload, problem):
    with pytest.raises(ValueError, match=problem):
        decode(topic, payload, PREFIX, T0)


def test_decode_cell_state_cloudevent():
    payload = state_payload(code=A, level="warning", values={"pm25": 80, "smoke": False},
                            updated_at="2026-11-29T08:00:00.500Z", open_anomalies=2)
    message = decode(f"{PREFIX}/cells/410204/{A}/state", payload, PREFIX, T0 + 1)
    assert isinstance(message, CellStateMessage)
    assert message.received_at == T0 + 1 and message.topic.endswith("/state")
    assert message.state == CellState(A, Level.WARNING, {"pm25": 80.0, "smoke": 0.0}, T0 + 0.5, 2)


def test_decode_anomaly_cloudevent():
    cell = small_grid().by_code[A]
    anomaly = Anomaly("an-9", "smoke", "opened", Level.CRITICAL, A, "sm-1", "boolean", T0, "Smoke alarm is on")
    message = decode(f"{PREFIX}/events/410204/{A}/smoke", orjson.dumps(anomaly_event(anomaly, cell, "gw")), PREFIX, T0)
    assert isinstance(message, AnomalyMessage)
    assert message.data["anomaly_id"] == "an-9" and message.data["cell"]["code"] == A


def test_board_keeps_the_newest_known_state():
    board = CellBoard(small_grid())
    assert board.apply(CellState(A, Level.WARNING, {"pm25": 80.0}, T0 + 10)) is True
    assert board.apply(CellState(A, Level.WARNING, {"pm25": 80.0}, T0 + 10)) is False  # same again
    assert board.apply(CellState(A, Level.NORMAL, {"pm25": 20.0}, T0 + 5)) is False  # older
    assert board.apply(CellState(A, Level.CRITICAL, {"pm25": 200.0}, T0 + 20)) is True
    assert board.apply(CellState("999999999999999", Level.CRITICAL)) is False  # not in the grid
    assert board.counts() == {"no_data": 5, "normal": 0, "warning": 0, "critical": 1}


async def test_hub_disconnects_a_client_that_falls_behind():
    hub = Hub(queue_size=2)
    fast, slow = hub.stream(b"hello", 60), hub.stream(b"hello", 60)
    assert await anext(fast) == b"hello" and await anext(slow) == b"hello"
    assert hub.clients == 2
    hub.publish("cell", {"n": 1})
    assert await anext(fast) == b'event: cell\ndata: {"n":1}\n\n'
    for n in range(2, 5):
        hub.publish("cell", {"n": n})
        await anext(fast)
    with pytest.raises(StopAsyncIteration):
        await anext(slow)
    assert hub.clients == 1 and hub.dropped_clients == 1
    await fast.aclose()
    assert hub.clients == 0


# -- end to end with a real broker -----------------------------------------------------
def broker_settings(settings, broker):
    return settings.replace(mqtt={"host": broker.host, "port": broker.port})


async def test_stream_sends_hello_then_only_new_changes(mosquitto, settings, store, grid):
    settings = broker_settings(settings, mosquitto)
    app = create_app(settings, store=store, grid=grid)
    ctx = app.state.ctx
    with serving(app) as url:
        await wait_until(lambda: ctx.feed.connected)
        # A retained state from before the client connects: the client must not get it replayed.
        publish(mosquitto, *state_message(settings, B, Level.CRITICAL, {"pm25": 300.0}, T0 + 900), retain=True)
        await wait_until(lambda: B in ctx.board.states)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            async with http.stream("GET", "/api/stream") as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                events = SSEReader(response)
                name, hello = await events.next()
                assert name == "hello" and hello["mqtt_connected"] is True
                assert abs(time.time() - datetime.fromisoformat(hello["server_time"]).timestamp()) < 5
                assert events.retry == 3000
                publish(mosquitto, *state_message(settings, C, Level.WARNING, {"noise_db": 75.0}, T0 + 960), retain=True)
                name, data = await events.next()
                assert name == "cell"
                assert data == {"code": C, "name": "Grid 003", "level": "warning", "values": {"noise_db": 75.0},
                                "updated_at": "2026-11-29T08:16:00.000Z", "open_anomalies": 0,
                                "path": "Gulou District > Xiangguo Street > Shudian Community > Grid 003"}
                anomaly = Anomaly("an-7", "noise_db_high", "opened", Level.WARNING, C, "aq-1", "threshold", T0 + 960,
                                  "Noise 75 dB(A) is above the warning threshold 70", metric="noise_db", value=75.0)
                publish(mosquitto, f"{settings.mqtt.prefix}/events/410204/{C}/noise_db_high",
                        anomaly_event(anomaly, grid.by_code[C], "gw"))
                name, data = await events.next()
                assert name == "anomaly" and data["anomaly_id"] == "an-7" and data["status"] == "opened"
                metrics = (await http.get("/metrics")).text
                assert sample(metrics, "gridtwin_web_sse_clients") == 1
                assert sample(metrics, "gridtwin_web_mqtt_connected") == 1
                assert sample(metrics, "gridtwin_web_cells", level="critical") == 1


async def test_heartbeat_comments_keep_the_stream_open(settings, store, grid):
    app = create_app(settings, store=store, grid=grid, heartbeat=0.2)
    with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            async with http.stream("GET", "/api/stream") as response:
                events = SSEReader(response)
                assert (await events.next())[0] == "hello"
                assert await events.next(timeout=2) == (":", "heartbeat")


async def test_store_is_polled_while_the_broker_is_unreachable(settings, store, grid):
    app = create_app(settings, store=store, grid=grid, poll_interval=0.2)  # settings point at a closed port
    with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            async with http.stream("GET", "/api/stream") as response:
                events = SSEReader(response)
                name, hello = await events.next()
                assert name == "hello" and hello["mqtt_connected"] is False
                store.put_cell_states([CellState(D, Level.CRITICAL, {"water_level_cm": 41.0}, time.time(), 1)])
                name, data = await events.next(timeout=3)
                assert (name, data["code"], data["level"]) == ("cell", D, "critical")
                now = time.time()
                store.write_anomalies([Anomaly("an-poll", "water_level_cm_high", "opened", Level.CRITICAL, D, "wl-1",
                                               "threshold", now, "Water 41 cm is above the critical level 30")])
                name, data = await events.next(timeout=3)
                assert (name, data["anomaly_id"], data["cell"]["code"]) == ("anomaly", "an-poll", D)


async def test_feed_reconnects_when_the_broker_comes_back(fresh_mosquitto, settings, store, grid):
    settings = broker_settings(settings, fresh_mosquitto)
    app = create_app(settings, store=store, grid=grid)
    ctx = app.state.ctx
    ctx.feed.backoff = (0.1, 0.4)
    with serving(app) as url:
        await wait_until(lambda: ctx.feed.connected)
        fresh_mosquitto.stop()
        await wait_until(lambda: not ctx.feed.connected)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.get("/healthz")).json()["mqtt"] == {"connected": False}
            fresh_mosquitto.start()
            await wait_until(lambda: ctx.feed.connected, timeout=10)
            async with http.stream("GET", "/api/stream") as response:
                events = SSEReader(response)
                assert (await events.next())[0] == "hello"
                publish(fresh_mosquitto, *state_message(settings, A, Level.CRITICAL, {"pm25": 400.0}, T0 + 3600))
                name, data = await events.next()
                assert (name, data["code"], data["level"]) == ("cell", A, "critical")


async def test_shutdown_ends_open_streams(settings, store, grid):
    app = create_app(settings, store=store, grid=grid)
    async with httpx.AsyncClient(timeout=10) as http:
        with serving(app) as url:
            response = await http.send(http.build_request("GET", f"{url}/api/stream"), stream=True)
            events = SSEReader(response)
            assert (await events.next())[0] == "hello"
            started = time.monotonic()
        assert time.monotonic() - started < 3  # not uvicorn's graceful-shutdown timeout
        with pytest.raises((EOFError, httpx.HTTPError)):
            await events.next()
        await response.aclose()


def test_feed_drops_redelivered_anomalies_and_remembers_only_so_many(settings, store, grid):
    feed = create_app(settings, store=store, grid=grid).state.ctx.feed
    feed.seen_limit = 3
    received = []
    feed.hub.publish = lambda event, data: received.append(data["anomaly_id"])
    prefix = settings.mqtt.prefix

    def deliver(anomaly_id: str) -> None:
        anomaly = Anomaly(anomaly_id, "smoke", "opened", Level.CRITICAL, A, "sm-1", "boolean", T0, "Smoke alarm is on")
        feed.on_message(f"{prefix}/events/410204/{A}/smoke", orjson.dumps(anomaly_event(anomaly, grid.by_code[A], "gw")))

    for anomaly_id in ("s-1", "s-1", "s-2", "s-3", "s-4", "s-4"):  # QoS 1 may deliver twice
        deliver(anomaly_id)
    assert received == ["s-1", "s-2", "s-3", "s-4"]
    assert len(feed._anomalies_seen) == 3
    deliver("s-1")  # forgotten by now: sent again rather than remembered forever
    assert received[-1] == "s-1" and feed.messages["anomaly"] == 7
