"""The gateway's part of the case loop: cases from anomalies, case updates on MQTT, escalation.

    anomalies stored by the gateway --intake--> CaseBook (open, merge, auto-dispatch)
    every case change, from any process --> audit log in the store
    audit log --relay--> gridtwin/v1/cases/{district}/{case_id}  (CloudEvents, in seq order)
    deadlines in the store --scheduler--> escalations (audit log, then the relay)

Why the gateway: it is the one process that must run for GridTwin to work at all,
it already owns the outbound MQTT contract and its connection, and a deployment runs
one gateway per store (`cases.enabled` on exactly one if there are more), while it may
run several web app replicas or none. The web app only writes case changes to the
store; this relay publishes them, and the scheduler sees the deadlines they set.

The relay reads the audit log after a cursor kept in the store, so an update written
while the gateway was down, or lost in a crash between the store write and the
publish, is published when it runs again (at least once; the CloudEvents id is
`<case id>:<seq>` so a consumer drops a repeat). It wakes at once after the gateway's
own changes, and every `cases.relay_interval_s` to pick up the web app's.

The scheduler sleeps until the earliest `escalate_at` in the store, not in steps; it
is woken early whenever the relay sees changes (a dispatch sets new deadlines). After
a restart its first look at the store fires every escalation that came due meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import orjson

from gateway.clock import Clock, SystemClock
from mqttwire.topics import Topics
from twin.cases.book import CaseBook
from twin.contract.cloudevents import case_update_event
from twin.sensing.anomalies import Anomaly
from twin.store import redact

if TYPE_CHECKING:
    from twin.grid.cells import Grid
    from twin.store.base import TwinStore

log = logging.getLogger(__name__)

__all__ = ["CaseDesk"]

RELAY_BATCH = 500
RETRY_S = 1.0
MAX_PENDING = 10_000


class CaseDesk:
    """Owned by the Gateway: `intake` from its store-writing thread, `run` as one of its tasks.

    `publish(topic, payload, qos=1)` is the transport's. `clock` drives the escalation
    scheduler (and the case times); tests pass a gateway.clock.ManualClock.
    """

    def __init__(self, settings, store: TwinStore, grid: Grid, publish: Callable[..., None], *, source: str,
                 clock: Clock | None = None):
        self.settings = settings
        self.enabled = settings.cases.enabled
        self.store = store
        self.grid = grid
        self.clock = clock or SystemClock()
        self.book = CaseBook(store, grid, settings.cases, settings.responsibility, clock=self.clock.now)
        self.publish = publish
        self.source = source
        self.topics = Topics(settings.mqtt.prefix)
        self.cursor_name = f"case-relay:{settings.gateway.instance}"
        self.cursor: int | None = None
        self.published = 0
        self.escalations = 0
        self._pending: list[Anomaly] = []
        self._lock = threading.Lock()
        self._relay_wake = asyncio.Event()
        self._schedule_wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- from the gateway's store-writing thread ----------------------------------------
    def intake(self, anomalies: Sequence[Anomaly]) -> None:
        """Open or join cases for the batch's stored anomalies, then wake the relay. A failure is
        logged and the anomalies are tried again with the next batch: the readings around them
        are stored and acknowledged either way. Before `run` has found the relay's place in the
        audit log, anomalies wait, so no case is created behind the relay's back."""
        if not self.enabled:
            return
        with self._lock:
            self._pending.extend(a for a in anomalies if a.status == "opened")
            if self.cursor is None or not self._pending:
                return
            batch, self._pending = self._pending, []
            try:
                self.book.take_anomalies(batch)
            except Exception:
                log.exception("opening cases for %d anomalies (first %s in cell %s) failed; retrying with the "
                              "next batch", len(batch), batch[0].id, batch[0].cell_code)
                self._pending = batch[-MAX_PENDING:]
        self._wake(self._relay_wake)

    def _wake(self, event: asyncio.Event) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(event.set)

    # -- the task ---------------------------------------------------------------------
    async def run(self) -> None:
        """Relay and scheduler until cancelled; on cancellation, publish what is left (briefly)."""
        if not self.enabled:
            await asyncio.get_running_loop().create_future()  # nothing to do, but live as long as the gateway
        self._loop = asyncio.get_running_loop()
        await self._start()
        tasks = [asyncio.create_task(self._relay_loop(), name="cases-relay"),
                 asyncio.create_task(self._schedule_loop(), name="cases-escalation")]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.relay_once(), 2.0)
            raise

    async def _start(self) -> None:
        while True:
            try:
                self.cursor = await asyncio.to_thread(self._initial_cursor)
                # Anomalies stored just before a stop but never made into cases.
                since = self.clock.now() - self.settings.cases.merge_window_s
                missed = await asyncio.to_thread(self.book.unfiled_anomalies, since)
                if missed:
                    log.info("opening cases for %d anomalies stored before the last stop", len(missed))
                await asyncio.to_thread(self.intake, missed)  # and those that arrived while starting
                return
            except Exception:
                log.exception("reading the case relay position from %s failed; retrying", redact(self.store.url))
                await asyncio.sleep(RETRY_S)

    def _initial_cursor(self) -> int:
        cursor = self.store.audit_cursor(self.cursor_name)
        if cursor is None:  # a new gateway starts at the end, not by replaying history
            cursor = self.store.last_audit_seq()
            self.store.set_audit_cursor(self.cursor_name, cursor)
        return cursor

    async def _relay_loop(self) -> None:
        interval = self.settings.cases.relay_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._relay_wake.wait(), interval)
            self._relay_wake.clear()
            try:
                while await self.relay_once() == RELAY_BATCH:
                    pass
            except Exception:
                log.exception("publishing case updates from %s failed; retrying", redact(self.store.url))
                await asyncio.sleep(RETRY_S)

    async def relay_once(self) -> int:
        """Publish the case rows of the audit log after the cursor, in order; how many there were."""
        if self.cursor is None:
            return 0  # the relay's place in the audit log is not known yet (run finds it first)
        records = await asyncio.to_thread(self.store.audit_log, subject="case", after_seq=self.cursor,
                                          limit=RELAY_BATCH)
        if not records:
            return 0
        cells = self.grid.by_code
        for record in records:
            code = orjson.loads(record.snapshot)["cell_code"]
            event = case_update_event(record, cells.get(code), self.source)
            self.publish(self.topics.case(code[:6], record.subject_id), orjson.dumps(event), qos=1)
        self.cursor = records[-1].seq
        self.published += len(records)
        await asyncio.to_thread(self.store.set_audit_cursor, self.cursor_name, self.cursor)
        self._schedule_wake.set()  # a change may have set or moved a deadline
        return len(records)

    async def _schedule_loop(self) -> None:
        while True:
            self._schedule_wake.clear()
            try:
                escalated = await asyncio.to_thread(self.book.escalate_due)
                if escalated:
                    self.escalations += len(escalated)
                    self._relay_wake.set()
                deadline = await asyncio.to_thread(self.book.next_escalation)
            except Exception:
                log.exception("checking case deadlines in %s failed; retrying", redact(self.store.url))
                await asyncio.sleep(RETRY_S)
                continue
            await self.clock.sleep_until(deadline, self._schedule_wake)
