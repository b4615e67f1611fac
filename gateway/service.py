"""The gateway service: transport -> pipeline -> store -> acks and outbound messages.

Four tasks in one task group: `_consume` drains the transport's inbox and runs
the pipeline; `_persist` writes outcomes to the store in a worker thread (handing
the stored anomalies to the case desk), then acks the messages and publishes
anomalies, dead letters and cell states; `_tick` publishes cell states held back
by the publish interval and refreshes the device registry cache; the case desk
publishes case updates and escalates overdue cases (gateway/casedesk.py); the cluster
desk publishes the gateway's status and, in a group of gateways, carries the records
member 0 judges (gateway/cluster.py, docs/scaling.md).

While the store is unavailable, `_persist` writes to the spool instead and acks as
usual, and the writer's replay task writes the spool to the store when it is back
(gateway/spool.py); live state, detection and publishing do not wait for the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import orjson

from gateway.casedesk import CaseDesk
from gateway.cluster import ClusterDesk, Membership
from gateway.field import FieldDesk
from gateway.messages import Inbound
from gateway.pipeline import Outcome, Pipeline
from gateway.retention import run_retention
from gateway.spool import Spool, SpooledWriter
from gateway.streamclock import StreamClock
from gateway.topics import Topics
from gateway.transport import MqttTransport
from gateway.vitals import VitalsBook
from gateway.wire import NativeTransport, open_transport
from twin.config import Settings
from twin.contract.cloudevents import anomaly_event, cell_state_event, dead_letter_event
from twin.devices.device import Device
from twin.devices.health import Vitals
from twin.errors import StoreError
from twin.sensing.cellstate import CellState

log = logging.getLogger(__name__)

REGISTRY_REFRESH_S = 30.0
HOLD_RECHECK_S = 0.02  # member 0 of a group: how soon to look again at records held back
WATERMARK_SLACK_S = 0.005  # a message stamped just before the watermark may not be in the inbox yet
UNKNOWN_RECHECK_S = 5.0


class Recently:
    """When each key was last looked at, for asking again only after `window_s`. Keys older than
    that are forgotten once there are `prune_at` of them: a stream of ever-new device ids (a
    misconfigured fleet, or hostile traffic) must not grow it without bound."""

    __slots__ = ("window_s", "prune_at", "seen")

    def __init__(self, window_s: float, prune_at: int = 4096):
        self.window_s, self.prune_at = window_s, prune_at
        self.seen: dict[str, float] = {}

    def due(self, keys, now: float) -> list[str]:
        """The keys not looked at within the window; they count as looked at now."""
        seen, window = self.seen, self.window_s
        due = [k for k in keys if now - seen.get(k, -1e18) > window]
        for k in due:
            seen[k] = now
        if len(seen) > self.prune_at:
            self.seen = {k: t for k, t in seen.items() if now - t <= window}
            self.prune_at = max(self.prune_at, 2 * len(self.seen))
        return due


@dataclass(slots=True)
class _Work:
    outcome: Outcome
    messages: list[Inbound] = field(default_factory=list)


def _merged(outcomes: list[Outcome]) -> Outcome:
    """One outcome holding those of several batches, in their order: written in one transaction."""
    merged = Outcome()
    for o in outcomes:
        merged.readings += o.readings
        merged.camera_events += o.camera_events
        merged.anomalies += o.anomalies
        merged.dead_letters += o.dead_letters
        merged.statuses += o.statuses
        merged.states += o.states
        merged.pending += o.pending
        merged.placed += o.placed
        for device_id, ts in o.last_seen.items():
            if ts > merged.last_seen.get(device_id, 0.0):
                merged.last_seen[device_id] = ts
    return merged


def _merged_batches(batches: list[tuple[Outcome, list[Vitals]]]) -> tuple[Outcome, list[Vitals]]:
    """Spooled batches replayed together: their outcomes merged, each device's vitals summed, oldest first."""
    vitals: dict[str, Vitals] = {}
    for _, taken in batches:
        for v in taken:
            vitals[v.device_id] = vitals[v.device_id].merge(v) if v.device_id in vitals else v
    return _merged([o for o, _ in batches]), list(vitals.values())


class Gateway:
    """An async context manager around one gateway process's work.

        async with Gateway(settings, store, grid) as gw:
            await gw.run()          # until cancelled
    """

    def __init__(self, settings: Settings, store, grid, *, clock: Callable[[], float] = time.time,
                 client_id: str | None = None):
        self.settings = settings
        self.store = store
        self.grid = grid
        self.clock = clock
        if clock is time.time and settings.gateway.clock == "stream":
            clock = self.clock = StreamClock()
        self._follow_times = getattr(clock, "observe_times", None)
        self.membership = Membership(settings.gateway, settings.mqtt.prefix)
        # Member 0 of a group judges on its clock only what the merge released; what it receives
        # itself is checked (stale, future) on a clock of its own, as every member does.
        self._intake, self._follow_intake = self.clock, getattr(clock, "observe", None)
        if self.membership.shared and self.membership.judges and self._follow_times is not None:
            self._intake = StreamClock(quantile=clock.quantile)
            self._follow_intake = self._intake.observe
        self.topics = Topics(settings.mqtt.prefix)
        self.source = f"gridtwin/gateway/{settings.gateway.instance}"
        self.transport: MqttTransport | NativeTransport | None = None
        self._client_id = client_id or settings.mqtt.client_id
        self._inflight: float | None = None  # receive time of the first message of the batch under way
        if client_id is None and self.membership.members > 1:
            self._client_id += f"-{self.membership.index}"  # each member keeps its own persistent session
        self.pipeline: Pipeline | None = None
        self.stored_readings = 0
        self.published = 0
        self._wake = asyncio.Event()
        self._queue: asyncio.Queue[_Work] | None = None
        self._unknown_checked = Recently(UNKNOWN_RECHECK_S)
        self._started = time.monotonic()
        self.vitals = VitalsBook()
        self.writer: SpooledWriter | None = None

    async def __aenter__(self) -> "Gateway":
        devices, states = await asyncio.to_thread(self._load)
        self.pipeline = Pipeline(self.settings, self.grid, {d.id: d for d in devices}, states,
                                 judges=self.membership.judges, records=self.membership.shared)
        self._queue = asyncio.Queue(maxsize=8)
        g = self.settings.gateway
        spool = await asyncio.to_thread(Spool, Path(g.spool_dir) / g.instance, int(g.spool_max_mb * 1e6))
        self.writer = SpooledWriter(spool, self._write, merge=_merged_batches)
        # Claims and field reports: answered by the field desk, never seen by the pipeline.
        self.field = FieldDesk(self.settings, self.store, self.grid, lambda *a, **k: self.transport.publish(*a, **k),
                               lambda messages: self.transport.ack(messages), source=self.source)
        filters = tuple(dict.fromkeys([*(f for a in self.pipeline.adapters for f in a.filters), *self.field.filters]))
        filters = self.membership.subscriptions(filters)
        self.transport = open_transport(self.settings.mqtt, filters, client_id=self._client_id)
        await asyncio.to_thread(self.transport.start, asyncio.get_running_loop(), self._wake.set)
        # Only the member that judges has anomalies, so only it runs the case desk (one per store).
        case_settings = self.settings if self.membership.judges else self.settings.replace(cases={"enabled": False})
        self.cases = CaseDesk(case_settings, self.store, self.grid, self.transport.publish, source=self.source)
        self.cluster = ClusterDesk(self.membership, self.transport.publish, self.summary, self._watermark,
                                   instance=self.settings.gateway.instance)
        log.info("gateway %s up: %d devices, %d cells, MQTT %s", self.settings.gateway.instance, len(devices),
                 len(self.grid), "5" if self.transport.protocol == 5 else "3.1.1")
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.to_thread(self.transport.stop)
        vitals = self.vitals.take(force=True)
        if vitals:
            try:
                await asyncio.wait_for(self.writer.put((Outcome(), vitals)), 15.0)
            except Exception:
                log.exception("storing the vitals of %d devices at shutdown failed", len(vitals))

    def _load(self) -> tuple[list[Device], dict[str, CellState]]:
        self.grid.prepare()
        return self.store.list_devices(), self.store.cell_states()

    # -- the run loop -----------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Work until `stop` is set (or the task is cancelled); then finish what was received."""
        stop = stop or asyncio.Event()
        tasks = [
            asyncio.create_task(self._consume(stop), name="gateway-consume"),
            asyncio.create_task(self._persist(), name="gateway-persist"),
            asyncio.create_task(self.writer.run(), name="gateway-replay"),
            asyncio.create_task(self._tick(), name="gateway-tick"),
            asyncio.create_task(self.cases.run(), name="gateway-cases"),
            asyncio.create_task(self.field.run(), name="gateway-field"),
            asyncio.create_task(run_retention(self.store, self.settings.store), name="gateway-retention"),
            asyncio.create_task(self.cluster.run(), name="gateway-cluster"),
        ]
        try:
            # The consumer returns once stopped and drained; the others never return, so
            # if one ends first it failed and takes the gateway down with its error.
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not tasks[0]:
                    task.result()
                    raise RuntimeError(f"gateway task {task.get_name()} ended unexpectedly")
            tasks[0].result()
            joined = asyncio.ensure_future(self._queue.join())
            await asyncio.wait({joined, tasks[1]}, return_when=asyncio.FIRST_COMPLETED)
            if not joined.done():
                joined.cancel()
                tasks[1].result()
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _consume(self, stop: asyncio.Event) -> None:
        batch_size = self.settings.gateway.batch_size
        while True:
            if not self.transport.inbox:
                if stop.is_set():
                    self.cluster.flush()  # a member of a group: the records not handed off yet
                    await self._judge_released(force=True)  # member 0 of a group: what is held back
                    return
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                # Member 0 of a group looks again soon while the merge holds records back.
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED,
                                   timeout=HOLD_RECHECK_S if self.cluster.holding else None)
                waiter.cancel()
                stopper.cancel()
                await self._judge_released()
                continue
            batch, _ = self.cluster.take(self.field.take(self.transport.drain(batch_size)), time.time())
            if not batch:
                await self._judge_released()
                continue
            self._inflight = batch[0].received_at
            decoded = self.pipeline.decode(batch)
            self._subscribe_learned()
            await self._learn_unknown(decoded)
            if self._follow_intake is not None:
                self._follow_intake(decoded)  # a clock that follows the stream learns from the batch first
            outcome = self.pipeline.resolve(decoded, self._intake())
            self.vitals.note(decoded, outcome.last_seen)
            await self._queue.put(_Work(outcome, batch))
            self.cluster.recorded(self.pipeline.judge, len(batch), time.time())
            self._inflight = None
            await self._judge_released()
            # put() does not yield while the queue has room: without this the store writes waited
            # until eight batches were queued, instead of overlapping the next batch's processing.
            await asyncio.sleep(0)

    def _watermark(self) -> float:
        """Every message received before this time has been taken in (for the group's merge)."""
        inbox = self.transport.inbox
        mark = inbox[0].received_at if inbox else time.time() - WATERMARK_SLACK_S
        return mark if self._inflight is None else min(mark, self._inflight)

    async def _judge_released(self, force: bool = False) -> None:
        """Member 0 of a group: judge what the merge of every member's records releases."""
        if not self.cluster.receives:
            return
        calls, times, messages, acks = self.cluster.release(time.time(), force)
        if not (calls or messages or acks):
            return
        if self._follow_times is not None:
            self._follow_times(times)  # the stream clock learns from the records first, as from a batch
        try:
            outcome = self.pipeline.judged(calls, messages, self.clock())
        except (ValueError, TypeError, IndexError) as exc:
            log.error("%d records of %d messages could not be judged: %s", len(calls), messages, exc)
            outcome = Outcome()
        await self._queue.put(_Work(outcome, acks))

    def _subscribe_learned(self) -> None:
        """Subscribe to the topics adapters learned (Home Assistant discovery's state topics)."""
        topics = [t for a in self.pipeline.adapters if hasattr(a, "take_subscriptions") for t in a.take_subscriptions()]
        if topics:
            log.info("subscribing to %d learned topic(s), e.g. %s", len(topics), topics[0])
            self.transport.subscribe(list(self.membership.filters(topics)))  # queues a SUBSCRIBE; waits for nothing

    async def _learn_unknown(self, decoded) -> None:
        now = time.monotonic()
        ids = self._unknown_checked.due(self.pipeline.unknown_ids(decoded), now)
        if not ids:
            return
        try:
            lookup = self.store.get_devices
            found = lookup(ids) if self.store.local else await asyncio.to_thread(lookup, ids)
        except StoreError as exc:
            log.warning("looking up %d device(s) the registry cache does not know (e.g. %s) failed: %s", len(ids),
                        ids[0], exc)
            return
        self.pipeline.learn(found)

    async def _tick(self) -> None:
        interval = max(0.05, self.settings.gateway.state_publish_interval / 4)
        last_refresh = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            outcome = self.pipeline.tick(self.clock())
            if outcome.states or outcome.anomalies:
                await self._queue.put(_Work(outcome))
            if time.monotonic() - last_refresh > REGISTRY_REFRESH_S:
                last_refresh = time.monotonic()
                try:
                    devices = await asyncio.to_thread(self.store.list_devices)
                except StoreError as exc:
                    log.warning("refreshing the device registry cache failed (%s); keeping the cached one", exc)
                    continue
                self.pipeline.learn(devices)
                placed = self.pipeline.take_placed()
                if placed:
                    await self._queue.put(_Work(Outcome(placed=placed)))

    async def _persist(self) -> None:
        queue = self._queue
        while True:
            works = [await queue.get()]
            while not queue.empty():
                works.append(queue.get_nowait())
            merged = _merged([w.outcome for w in works])
            try:
                # Stored, or spooled while the store is unavailable; waits while the spool is full.
                await self.writer.put((merged, self.vitals.take()))
            except Exception:
                # Not acked: the broker redelivers these messages after a reconnect.
                log.exception("store write of %d readings failed; messages left unacknowledged",
                              len(merged.readings))
                self.pipeline.forget_pending(merged.pending)
                for _ in works:
                    queue.task_done()
                continue
            for w in works:
                self.transport.ack(w.messages)
            try:
                self._publish(merged)
            except Exception:
                log.exception("publishing %d anomalies and %d cell states failed", len(merged.anomalies),
                              len(merged.states))
            for _ in works:
                queue.task_done()

    def _write(self, batch: tuple[Outcome, list[Vitals]]) -> None:
        """Write one batch (straight from `_persist`, or replayed from the spool)."""
        o, vitals = batch
        store = self.store
        # Pending devices first, so that their readings and statuses find them; one a technician
        # registered in the meantime is not overwritten.
        known = {d.id for d in store.get_devices(d.id for d in o.pending)} if o.pending else set()
        new = [d for d in o.pending if d.id not in known]
        if new:
            store.put_devices(new)
            for device in new:
                log.info("device %s (%s) seen for the first time: registered as pending for a technician to place",
                         device.id, device.attributes.get("adapter", "?"))
        if o.readings:
            self.stored_readings += store.write_readings(o.readings)
        if o.camera_events:
            store.write_camera_events(o.camera_events)
        if o.anomalies:
            store.write_anomalies(o.anomalies)
            self.cases.intake(o.anomalies)
        if o.dead_letters:
            store.write_dead_letters(o.dead_letters)
        if o.statuses:
            store.set_device_statuses(o.statuses)
        if o.last_seen:
            store.touch_devices(o.last_seen)
        if o.states:
            store.put_cell_states(o.states)
        for device_id, cell_code in o.placed:
            moved = store.assign_cell(device_id, cell_code)
            if moved:
                log.info("device %s placed in cell %s: %d more readings counted there", device_id, cell_code, moved)
        if vitals:  # taken every few seconds, not every batch
            store.record_vitals(vitals)

    def _publish(self, o: Outcome) -> None:
        publish, topics, cells = self.transport.publish, self.topics, self.grid.by_code
        for anomaly in o.anomalies:
            cell = cells[anomaly.cell_code]
            publish(topics.event(cell.district, cell.code, anomaly.type),
                    orjson.dumps(anomaly_event(anomaly, cell, self.source)), qos=1)
        for letter in o.dead_letters:
            publish(topics.dead_letter(letter.reason), orjson.dumps(dead_letter_event(letter, self.source)), qos=1)
        now = self.clock()
        for state in o.states:
            cell = cells[state.code]
            publish(topics.cell_state(cell.district, cell.code),
                    orjson.dumps(cell_state_event(state, cell, self.source, now)), qos=1, retain=True)
        self.published += len(o.anomalies) + len(o.dead_letters) + len(o.states)

    # -- figures ----------------------------------------------------------------
    def summary(self) -> dict:
        s = self.pipeline.stats
        return {
            "messages": s.messages,
            "readings_stored": self.stored_readings,
            "camera_events": s.camera_events,
            "anomalies_opened": s.anomalies_opened,
            "anomalies_cleared": s.anomalies_cleared,
            "dead_letters": dict(s.dead_letters),
            "dead_letters_total": sum(s.dead_letters.values()),
            "seq_gaps": s.seq_gaps,
            "case_updates_published": self.cases.published,
            "escalations": self.cases.escalations,
            "reconnects": self.transport.reconnects,
            "mqtt_protocol": "5" if self.transport.protocol == 5 else "3.1.1",
            "spool": self.writer.figures(),
            "judged": s.judged if self.membership.shared else s.resolved,
        }
