"""The gateway service: transport -> pipeline -> store -> acks and outbound messages.

`run` supervises one task group: the consumer (this task) drains the transport's inbox and runs
the pipeline; `_persist` writes outcomes to the store in a worker thread (the case desk takes
the stored anomalies), then acks the messages and publishes anomalies, dead letters and cell
states; `_tick` lets time pass for the judge and refreshes the device registry cache; the case
desk publishes case updates and escalates overdue cases (gateway/casedesk.py); the field desk
answers claims and reports (gateway/field.py); the status desk publishes the gateway's figures
(gateway/status.py); the link to the judge carries a group's records (gateway/cluster.py) and
has nothing to do in a gateway on its own (gateway/judge.py, `LocalLink`). A task that fails
takes the gateway down with its error.

While the store is unavailable, `_persist` writes to the spool instead and acks as usual, and
the writer's replay task writes the spool to the store when it is back (gateway/spool.py);
live state, detection and publishing do not wait for the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Self

from gateway.casedesk import CaseDesk
from gateway.cluster import GroupLink, Membership
from gateway.field import FieldDesk
from gateway.judge import LocalLink
from gateway.messages import Decoded
from gateway.outbound import Outbound
from gateway.outcome import Outcome
from gateway.pipeline import Pipeline
from gateway.recently import Recently
from gateway.retention import run_retention
from gateway.spool import Spool, SpooledWriter
from gateway.status import StatusDesk
from gateway.storing import OutcomeWriter, StoreBatch
from gateway.streamclock import StreamClock, WallClock
from gateway.types import DataClock, JudgeLink, Transport
from gateway.vitals import VitalsBook
from gateway.wire import open_transport
from mqttwire.packets import Inbound
from mqttwire.topics import Topics
from twin.config import Settings
from twin.devices.device import Device
from twin.errors import StoreError
from twin.sensing.cellstate import CellState

if TYPE_CHECKING:
    from twin.grid.cells import Grid
    from twin.store import TwinStore

log = logging.getLogger(__name__)

REGISTRY_REFRESH_S = 30.0
WATERMARK_SLACK_S = 0.005  # a message stamped just before the watermark may not be in the inbox yet
UNKNOWN_RECHECK_S = 5.0


@dataclass(slots=True)
class _Work:
    outcome: Outcome
    messages: Sequence[Inbound] = field(default_factory=list)


class Gateway:
    """An async context manager around one gateway process's work.

        async with Gateway(settings, store, grid) as gw:
            await gw.run()          # until cancelled
    """

    def __init__(self, settings: Settings, store: TwinStore, grid: Grid, *, clock: DataClock | None = None,
                 client_id: str | None = None):
        self.settings = settings
        self.store = store
        self.grid = grid
        self.clock: DataClock = clock or (StreamClock() if settings.gateway.clock == "stream" else WallClock())
        self.membership = Membership(settings.gateway, settings.mqtt.prefix)
        self.topics = Topics(settings.mqtt.prefix)
        self.source = f"gridtwin/gateway/{settings.gateway.instance}"
        self._client_id = client_id or settings.mqtt.client_id
        if client_id is None and self.membership.members > 1:
            self._client_id += f"-{self.membership.index}"  # each member keeps its own persistent session
        self._inflight: float | None = None  # receive time of the first message of the batch under way
        self._wake = asyncio.Event()
        self._queue: asyncio.Queue[_Work] = asyncio.Queue(maxsize=8)
        self._unknown_checked = Recently(UNKNOWN_RECHECK_S)
        self._exits = contextlib.AsyncExitStack()
        self.vitals = VitalsBook()

    async def __aenter__(self) -> Self:
        devices, states = await asyncio.to_thread(self._load)
        shared = self.membership.shared
        self.pipeline = Pipeline(self.settings, self.grid, {d.id: d for d in devices}, states,
                                 judges=self.membership.judges, records=shared)
        self.link: JudgeLink = (GroupLink(self.membership, self.pipeline, self.publish, self._watermark, self.clock)
                                if shared else LocalLink(self.clock))
        # Claims and field reports: answered by the field desk, never seen by the pipeline.
        self.field = FieldDesk(self.settings, self.store, self.grid, self.publish, self.ack, source=self.source)
        # Only the member that judges has anomalies, so only it runs the case desk (one per store).
        case_settings = self.settings if self.membership.judges else self.settings.replace(cases={"enabled": False})
        self.cases = CaseDesk(case_settings, self.store, self.grid, self.publish, source=self.source)
        self.outbound = Outbound(self.publish, self.topics, self.grid, self.source, self.clock)
        self.outcomes = OutcomeWriter(self.store, self.cases.intake)
        g = self.settings.gateway
        spool = await asyncio.to_thread(Spool, Path(g.spool_dir) / g.instance, int(g.spool_max_mb * 1e6), StoreBatch)
        self.writer = SpooledWriter(spool, self.outcomes.write, merge=StoreBatch.merged)
        self.status = StatusDesk(self.settings.mqtt.prefix, g.instance, self.publish, self.figures)
        # Connected last: a gateway that cannot start (a spool it refuses) never takes messages.
        filters = dict.fromkeys([*(f for a in self.pipeline.adapters for f in a.filters), *self.field.filters])
        self.transport: Transport = open_transport(
            self.settings.mqtt, self.membership.filters(filters) + self.link.filters, client_id=self._client_id,
            wake=self._wake.set)
        await self._exits.enter_async_context(self.transport)
        log.info("gateway %s up: %d devices, %d cells, MQTT %s", g.instance, len(devices), len(self.grid),
                 "5" if self.transport.protocol == 5 else "3.1.1")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._exits.aclose()
        vitals = self.vitals.take(force=True)
        if vitals:
            try:
                await asyncio.wait_for(self.writer.put(StoreBatch(Outcome(), tuple(vitals))), 15.0)
            except Exception:
                log.exception("storing the vitals of %d devices at shutdown failed", len(vitals))

    def _load(self) -> tuple[list[Device], dict[str, CellState]]:
        self.grid.prepare()
        return self.store.list_devices(), self.store.cell_states()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.transport.publish(topic, payload, qos=qos, retain=retain)

    def ack(self, messages: Sequence[Inbound]) -> None:
        self.transport.ack(messages)

    # -- the run loop -----------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Work until `stop` is set (or the task is cancelled); then finish what was received."""
        stop = stop or asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(coro, name=f"gateway-{name}") for name, coro in (
                    ("persist", self._persist()),
                    ("replay", self.writer.run()),
                    ("tick", self._tick()),
                    ("cases", self.cases.run()),
                    ("field", self.field.run()),
                    ("retention", run_retention(self.store, self.settings.store)),
                    ("judge-link", self.link.run(self._put)),
                    ("status", self.status.run()),
                )]
                await self._consume(stop)  # returns once stopped and drained
                await self._queue.join()  # everything taken in is stored (or spooled) and acked
                for task in tasks:
                    task.cancel()
        except BaseExceptionGroup as group:
            # One task failed and the group cancelled the rest: its own error says what happened.
            errors = [e for e in group.exceptions if not isinstance(e, asyncio.CancelledError)]
            if len(errors) == 1:
                raise errors[0] from None
            raise

    async def _consume(self, stop: asyncio.Event) -> None:
        batch_size = self.settings.gateway.batch_size
        transport, link = self.transport, self.link
        while True:
            if not transport.inbox:
                if stop.is_set():
                    await link.finish(self._put)
                    return
                await self._wait(stop)
                continue
            batch = link.take(self.field.take(transport.drain(batch_size)), time.time())
            if batch:
                await self._take_in(batch)
            # put() does not yield while the queue has room: without this the store writes waited
            # until eight batches were queued, instead of overlapping the next batch's processing.
            await asyncio.sleep(0)

    async def _wait(self, stop: asyncio.Event) -> None:
        """Until a message arrives or `stop` is set; the waiters never outlive the call."""
        self._wake.clear()
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _take_in(self, batch: list[Inbound]) -> None:
        self._inflight = batch[0].received_at
        decoded = self.pipeline.decode(batch)
        self._subscribe_learned()
        await self._learn_unknown(decoded)
        intake = self.link.intake
        intake.observe(decoded)  # a clock that follows the stream learns from the batch first
        outcome = self.pipeline.resolve(decoded, intake())
        self.vitals.note(decoded, outcome.last_seen)
        await self._queue.put(_Work(outcome, batch))
        self.link.recorded(len(batch), time.time())
        self._inflight = None

    async def _put(self, outcome: Outcome, messages: Sequence[Inbound] = ()) -> None:
        await self._queue.put(_Work(outcome, messages))

    def _watermark(self) -> float:
        """Every message received before this time has been taken in (for the group's merge)."""
        inbox = self.transport.inbox
        mark = inbox[0].received_at if inbox else time.time() - WATERMARK_SLACK_S
        return mark if self._inflight is None else min(mark, self._inflight)

    def _subscribe_learned(self) -> None:
        """Subscribe to the topics adapters learned (Home Assistant discovery's state topics)."""
        topics = self.pipeline.learned_subscriptions()
        if topics:
            log.info("subscribing to %d learned topic(s), e.g. %s", len(topics), topics[0])
            self.transport.subscribe(self.membership.filters(topics))  # queues a SUBSCRIBE; waits for nothing

    async def _learn_unknown(self, decoded: Decoded) -> None:
        ids = self._unknown_checked.due(self.pipeline.registry.unknown_ids(decoded), time.monotonic())
        if not ids:
            return
        try:
            lookup = self.store.get_devices
            found = lookup(ids) if self.store.local else await asyncio.to_thread(lookup, ids)
        except StoreError as exc:
            log.warning("looking up %d device(s) the registry cache does not know (e.g. %s) failed: %s", len(ids),
                        ids[0], exc)
            return
        self.pipeline.registry.learn(found)

    async def _tick(self) -> None:
        interval = max(0.05, self.settings.gateway.state_publish_interval / 4)
        last_refresh = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            outcome = self.pipeline.tick(self.clock())
            if outcome.states or outcome.anomalies:
                await self._put(outcome)
            if time.monotonic() - last_refresh > REGISTRY_REFRESH_S:
                last_refresh = time.monotonic()
                try:
                    devices = await asyncio.to_thread(self.store.list_devices)
                except StoreError as exc:
                    log.warning("refreshing the device registry cache failed (%s); keeping the cached one", exc)
                    continue
                self.pipeline.registry.learn(devices)
                placed = self.pipeline.registry.take_placed()
                if placed:
                    await self._put(Outcome(placed=tuple(placed)))

    async def _persist(self) -> None:
        queue = self._queue
        while True:
            works = [await queue.get()]
            while not queue.empty():
                works.append(queue.get_nowait())
            merged = Outcome.merged(w.outcome for w in works)
            try:
                # Stored, or spooled while the store is unavailable; waits while the spool is full.
                await self.writer.put(StoreBatch(merged, tuple(self.vitals.take())))
            except Exception:
                # Not acked: the broker redelivers these messages after a reconnect.
                log.exception("store write of %d readings failed; messages left unacknowledged",
                              len(merged.readings))
                self.pipeline.registry.forget_pending(merged.pending)
            else:
                for w in works:
                    self.transport.ack(w.messages)
                try:
                    self.outbound.send(merged)
                except Exception:
                    log.exception("publishing %d anomalies and %d cell states failed", len(merged.anomalies),
                                  len(merged.states))
            for _ in works:
                queue.task_done()

    # -- figures ----------------------------------------------------------------
    @property
    def stored_readings(self) -> int:
        return self.outcomes.stored_readings

    @property
    def published(self) -> int:
        return self.outbound.published

    def summary(self) -> dict:
        s = self.pipeline.stats
        return {
            "messages": s.messages,
            "readings_stored": self.outcomes.stored_readings,
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
            "judged": s.judged if self.link.counts else s.resolved,
        }

    def figures(self) -> dict:
        """What the status desk publishes: the group's figures and the summary."""
        return {**self.membership.figures(), **self.link.figures(), **self.summary()}
