"""The web app's live feed: cell state, anomaly and case-update CloudEvents from MQTT, pushed to the hub.

While the broker is unreachable, the feed polls the store every second and pushes
what changed, so the map keeps moving; once the broker is back the retained cell
states bring every cell up to date again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import aiomqtt
import orjson
from starlette.concurrency import run_in_threadpool

from maps.hub import Hub
from maps.payloads import anomaly_json, state_json
from mqttwire.tls import client_context
from twin.config import MqttSettings
from twin.contract.cloudevents import case_update_event
from twin.grid.cells import Grid
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState
from twin.store import redact
from twin.store.base import TwinStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CellStateMessage:
    topic: str
    received_at: float
    state: CellState


@dataclass(frozen=True, slots=True)
class AnomalyMessage:
    topic: str
    received_at: float
    data: dict


@dataclass(frozen=True, slots=True)
class CaseMessage:
    topic: str
    received_at: float
    data: dict  # the case-update data: the change (case_id, seq, action, ...) and the whole case


def _epoch(text: str | float | None) -> float | None:
    if text is None or isinstance(text, (int, float)):
        return text
    return datetime.fromisoformat(text).timestamp()


def decode(topic: str, payload: bytes, prefix: str, received_at: float) -> CellStateMessage | AnomalyMessage | CaseMessage:
    """A message on `{prefix}/cells/+/+/state`, `{prefix}/events/#` or `{prefix}/cases/#`; ValueError says
    what is wrong."""
    levels = topic[len(prefix) + 1 :].split("/") if topic.startswith(prefix + "/") else []
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"payload is not JSON: {exc}") from None
    data = body.get("data") if isinstance(body, dict) and "specversion" in body else body
    if not isinstance(data, dict):
        raise ValueError("payload carries no JSON object in `data`")  # noqa: TRY004  # decode raises ValueError only
    if len(levels) == 4 and levels[0] == "cells" and levels[3] == "state":
        code = levels[2]
        try:
            values = {str(k): float(v) for k, v in (data.get("values") or {}).items()}
            state = CellState(
                code=code,
                level=Level.parse(str(data.get("level", "no_data"))),
                values=values,
                updated_at=_epoch(data.get("updated_at")),
                open_anomalies=int(data.get("open_anomalies") or 0),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"cell state is malformed: {exc!r}") from None
        return CellStateMessage(topic, received_at, state)
    if len(levels) >= 2 and levels[0] == "events":
        if "anomaly_id" not in data or "status" not in data:
            raise ValueError("anomaly event lacks anomaly_id or status")
        return AnomalyMessage(topic, received_at, data)
    if len(levels) == 3 and levels[0] == "cases":
        if not isinstance(data.get("case"), dict) or not isinstance(data.get("seq"), int) or "case_id" not in data:
            raise ValueError("case update lacks case_id, seq or case")
        return CaseMessage(topic, received_at, data)
    raise ValueError("topic is neither a cell state, an event nor a case topic")


class CellBoard:
    """The latest state the app knows of every cell of the grid."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self.states: dict[str, CellState] = {}

    def apply(self, state: CellState) -> bool:
        """Take `state` unless it is unknown, older than the one held or identical; True if taken."""
        if state.code not in self.grid.by_code:
            return False
        held = self.states.get(state.code)
        if held is not None:
            if held == state:
                return False
            if held.updated_at is not None and state.updated_at is not None and state.updated_at < held.updated_at:
                return False
        self.states[state.code] = state
        return True

    def counts(self) -> dict[str, int]:
        return level_counts(self.grid, self.states)


def level_counts(grid: Grid, states: dict[str, CellState]) -> dict[str, int]:
    """Cells of `grid` by level; cells without a state count as no data."""
    counts = {level.label: 0 for level in Level}
    known = 0
    for code, state in states.items():
        if code in grid.by_code:
            counts[state.level.label] += 1
            known += 1
    counts[Level.NO_DATA.label] += len(grid) - known
    return counts


class LiveFeed:
    """Subscribes to the broker (reconnecting with backoff) and polls the store while it cannot."""

    seen_limit = 10_000  # anomaly (id, status) pairs remembered to drop QoS 1 redeliveries

    def __init__(
        self,
        mqtt: MqttSettings,
        store: TwinStore,
        board: CellBoard,
        hub: Hub,
        *,
        poll_interval: float = 1.0,
        backoff: tuple[float, float] = (0.5, 15.0),
    ):
        self.mqtt = mqtt
        self.store = store
        self.board = board
        self.hub = hub
        self.poll_interval = poll_interval
        self.backoff = backoff
        self.client_id = f"gridtwin-web-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.connected = False
        self.messages = {"cell": 0, "anomaly": 0, "case": 0, "invalid": 0}
        self._anomalies_since = time.time()
        self._anomalies_seen: dict[tuple[str, str], float] = {}
        self._case_seq: int | None = None  # the audit log row the store polling has reached
        self._cases_seen: dict[tuple[str, int], None] = {}

    async def run(self) -> None:
        """Run until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._subscribe_forever(), name="maps-mqtt")
            tasks.create_task(self._poll_forever(), name="maps-poll")

    # -- MQTT ---------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.mqtt.host,
            self.mqtt.port,
            username=self.mqtt.username,
            password=self.mqtt.password,
            identifier=self.client_id,
            keepalive=self.mqtt.keepalive,
            tls_context=client_context(self.mqtt),
            timeout=10,
        )

    async def _subscribe_forever(self) -> None:
        prefix, delay = self.mqtt.prefix, self.backoff[0]
        where = f"{self.mqtt.host}:{self.mqtt.port}"
        while True:
            try:
                async with self._client() as client:
                    await client.subscribe(f"{prefix}/cells/+/+/state", qos=1)
                    await client.subscribe(f"{prefix}/events/#", qos=1)
                    await client.subscribe(f"{prefix}/cases/#", qos=1)
                    self.connected, delay = True, self.backoff[0]
                    log.info("live feed subscribed to %s/cells and %s/events on %s", prefix, prefix, where)
                    async for message in client.messages:
                        self.on_message(message.topic.value, message.payload)
            except aiomqtt.MqttError as exc:
                if self.connected:
                    log.warning("lost the MQTT broker %s (%s); polling the store until it is back", where, exc)
                else:
                    log.info("MQTT broker %s unreachable (%s); retrying in %.1f s", where, exc, delay)
            finally:
                self.connected = False
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.backoff[1])

    def on_message(self, topic: str, payload: bytes | bytearray) -> None:
        try:
            message = decode(topic, bytes(payload), self.mqtt.prefix, time.time())
        except ValueError as exc:
            self.messages["invalid"] += 1
            log.warning("ignoring message on %s: %s", topic, exc)
            return
        if isinstance(message, CellStateMessage):
            self.messages["cell"] += 1
            self._push_state(message.state)
        elif isinstance(message, CaseMessage):
            self.messages["case"] += 1
            self._push_case(message.data)
        else:
            self.messages["anomaly"] += 1
            self._push_anomaly(message.data)

    def _push_state(self, state: CellState) -> None:
        if self.board.apply(state):
            cell = self.board.grid.by_code[state.code]
            self.hub.publish("cell", state_json(state) | {"name": cell.name, "path": cell.path})

    def _push_anomaly(self, data: dict) -> None:
        key = (str(data.get("anomaly_id")), str(data.get("status")))
        if key in self._anomalies_seen:
            return
        self._anomalies_seen[key] = _epoch(data.get("ts")) or time.time()
        while len(self._anomalies_seen) > self.seen_limit:  # oldest first: dicts keep insertion order
            del self._anomalies_seen[next(iter(self._anomalies_seen))]
        self.hub.publish("anomaly", data)

    def _push_case(self, data: dict) -> None:
        key = (str(data["case_id"]), int(data["seq"]))
        if key in self._cases_seen:
            return
        self._cases_seen[key] = None
        while len(self._cases_seen) > self.seen_limit:
            del self._cases_seen[next(iter(self._cases_seen))]
        self._case_seq = max(self._case_seq or 0, key[1])
        self.hub.publish("case", data)

    # -- store polling ------------------------------------------------------
    async def _poll_forever(self) -> None:
        while True:
            if not self.connected:
                try:
                    await self.poll_once()
                except Exception as exc:  # noqa: BLE001  # a store hiccup must not end the feed
                    log.warning("polling the store %s failed: %s", redact(self.store.url), exc)
            await asyncio.sleep(self.poll_interval)

    async def poll_once(self) -> None:
        """Push every cell state and anomaly the store has that the board has not seen."""
        states = await run_in_threadpool(self.store.cell_states)
        for state in states.values():
            self._push_state(state)
        # Writes can land a little after their timestamp: look back a minute, skip what was sent.
        since = self._anomalies_since - 60.0
        anomalies = await run_in_threadpool(self.store.anomalies, start=since, limit=500)
        for anomaly in reversed(anomalies):
            self._push_anomaly(anomaly_json(anomaly, self.board.grid))
        # A clock running ahead on some device must not hide everyone else's anomalies.
        newest = max((a.ts for a in anomalies), default=self._anomalies_since)
        self._anomalies_since = max(self._anomalies_since, min(newest, time.time()))
        horizon = self._anomalies_since - 120.0
        self._anomalies_seen = {k: ts for k, ts in self._anomalies_seen.items() if ts >= horizon}
        await self._poll_cases()

    async def _poll_cases(self) -> None:
        """Case changes from the audit log that the broker did not bring; the first call only finds
        where the log ends (the stream replays nothing older than the connection)."""
        if self._case_seq is None:
            self._case_seq = await run_in_threadpool(self.store.last_audit_seq)
            return
        after = self._case_seq
        records = await run_in_threadpool(lambda: self.store.audit_log(subject="case", after_seq=after, limit=500))
        grid = self.board.grid
        for record in records:
            cell = grid.by_code.get(orjson.loads(record.snapshot)["cell_code"])
            self._push_case(case_update_event(record, cell, "gridtwin/web")["data"])
