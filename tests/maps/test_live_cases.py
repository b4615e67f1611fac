"""Case changes on the live stream: from the gateway's MQTT case updates, and from the store's
audit log while the broker is unreachable."""

from __future__ import annotations

import dataclasses

import httpx
import orjson

from maps.app import create_app
from maps.live import CaseMessage, decode
from tests.maps.common import T0, A, SSEReader, publish, serving, small_grid, wait_until
from tests.maps.test_live import broker_settings
from twin.cases.workflow import new_case
from twin.contract.cloudevents import case_update_event
from twin.people.access import Principal
from twin.people.audit import GENESIS, chain
from twin.people.users import Role
from twin.sensing.catalog import Level

DANA = Principal("dana", Role.DISPATCHER)


def case_event(seq: int = 1, case_id: str = "C-20261129-0001") -> dict:
    case, entry = new_case(type_="fire", severity=Level.CRITICAL, cell_code=A, now=T0)
    entry = dataclasses.replace(entry, subject_id=case_id, snapshot={**entry.snapshot, "id": case_id})
    (record,) = chain(GENESIS, seq - 1, [entry])
    return case_update_event(record, small_grid().by_code[A], "gridtwin/gateway/gw-1")


def test_decode_case_update():
    event = case_event()
    message = decode(f"gridtwin/v1/cases/410204/{event['subject']}", orjson.dumps(event), "gridtwin/v1", T0)
    assert isinstance(message, CaseMessage)
    assert message.data["case_id"] == "C-20261129-0001" and message.data["case"]["cell"]["code"] == A


def test_feed_drops_redelivered_case_updates(settings, store, grid):
    feed = create_app(settings, store=store, grid=grid).state.ctx.feed
    received = []
    feed.hub.publish = lambda event, data: received.append((event, data["seq"]))
    for seq in (1, 1, 2):  # QoS 1 may deliver twice
        event = case_event(seq)
        feed.on_message(f"{settings.mqtt.prefix}/cases/410204/{event['subject']}", orjson.dumps(event))
    assert received == [("case", 1), ("case", 2)] and feed.messages["case"] == 3


async def test_case_updates_on_mqtt_reach_the_stream(mosquitto, settings, store, grid):
    settings = broker_settings(settings, mosquitto)
    app = create_app(settings, store=store, grid=grid)
    with serving(app) as url:
        await wait_until(lambda: app.state.ctx.feed.connected)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            async with http.stream("GET", "/api/stream") as response:
                events = SSEReader(response)
                assert (await events.next())[0] == "hello"
                event = case_event(7)
                publish(mosquitto, f"{settings.mqtt.prefix}/cases/410204/{event['subject']}", event)
                name, data = await events.next()
                assert name == "case" and data == event["data"]


async def test_case_changes_are_polled_from_the_store_while_the_broker_is_unreachable(settings, store, grid):
    app = create_app(settings, store=store, grid=grid, poll_interval=0.2)  # settings point at a closed port
    book = app.state.ctx.book
    earlier = book.report(DANA, type_="litter", cell=A)  # before the app started: never replayed
    with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            async with http.stream("GET", "/api/stream") as response:
                events = SSEReader(response)
                assert (await events.next())[1]["mqtt_connected"] is False
                book.act(earlier.id, "file", DANA)
                book.act(earlier.id, "dispatch", DANA)
                received = [await events.next(timeout=3), await events.next(timeout=3)]
                assert [(n, d["action"], d["case_id"]) for n, d in received] == [
                    ("case", "file", earlier.id), ("case", "dispatch", earlier.id)]
                assert received[1][1]["case"]["assignee"] == "worker-1" and received[1][1]["case"]["cell"]["name"]
