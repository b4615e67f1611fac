"""A group of gateways sharing the inbound topics: shared subscriptions, hand-offs, the judge's link.

    devices --> broker --$share/{group}/...--> member 0 .. member N-1   (round robin, no affinity)
    every member: decode, validate, locate, store readings, ack          (no state across devices)
                  and record what the judge should see (gateway/judge.py, gateway/handoff.py)
    member k > 0 --{prefix}/cluster/{group}/judge--> member 0            (a hand-off every 10 ms)
    member 0: merges its own records and the hand-offs in the order the messages were received
              (gateway/merge.py), judges them (detection, live cell state), stores anomalies and
              cell states, runs cases

Why one judge and not the devices partitioned over the members: detection compares a reading
with every device of its metric and with the cells around it (gateway/judge.py), so a member
that saw only its share of the devices would decide differently. What costs the CPU, receiving,
decoding, locating and storing each message, is spread; the judge replays compact records.

A member hands off what it recorded every `HEARTBEAT_S` (at once past `FLUSH_CALLS` records),
and an empty hand-off when it recorded nothing, so that its watermark moves on.

Member 0 is designated, not elected: it is the member whose `gateway.member_index` is 0. While
it is down the others keep storing and acknowledging, and the broker keeps their hand-offs in
member 0's persistent session (QoS 1) until it is back.

`GroupLink` is the service's link to the judge in a group (`gateway.types.JudgeLink`); a gateway
on its own has `gateway.judge.LocalLink` instead, and none of this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from gateway import handoff
from gateway.handoff import AnyRecord, Handoff, HandoffError, HandoffVersionError
from gateway.judge import Recorder
from gateway.merge import Merge
from gateway.pipeline import Pipeline
from gateway.types import DataClock, JudgedSink, Publish
from mqttwire.packets import Inbound
from twin.config import GatewaySettings

log = logging.getLogger(__name__)

__all__ = ["GroupLink", "Membership"]

HEARTBEAT_S = 0.01  # a member hands off this often while it was busy lately ...
HEARTBEAT_IDLE_S = 0.1  # ... and this often after a second without messages (a heartbeat)
FLUSH_CALLS = 6000  # records that are handed off at once rather than with the next beat
HOLD_RECHECK_S = 0.02  # the judge: how soon to look again at records held back


class Membership:
    """Where one gateway stands in its group (a gateway on its own is member 0 of a group of one)."""

    def __init__(self, settings: GatewaySettings, prefix: str):
        self.group = settings.group
        self.members = settings.members
        self.index = settings.member_index
        self.delay_s = settings.group_delay_s
        self.prefix = prefix

    @property
    def shared(self) -> bool:
        return bool(self.group)

    @property
    def judges(self) -> bool:
        """Member 0 judges (detection, live state, anomalies, cases); the others hand off to it."""
        return self.index == 0

    def filters(self, filters: Iterable[str]) -> tuple[str, ...]:
        """The inbound filters as this member subscribes them: `$share/{group}/...` in a group.

        >>> from twin.config import GatewaySettings
        >>> Membership(GatewaySettings(group="gw"), "gridtwin/v1").filters(["gridtwin/v1/readings/#"])
        ('$share/gw/gridtwin/v1/readings/#',)
        >>> Membership(GatewaySettings(), "gridtwin/v1").filters(["gridtwin/v1/readings/#"])
        ('gridtwin/v1/readings/#',)
        """
        if not self.group:
            return tuple(filters)
        return tuple(f"$share/{self.group}/{f}" for f in filters)

    def subscriptions(self, filters: Iterable[str]) -> tuple[str, ...]:
        """What this member subscribes: the inbound `filters` (shared in a group), and the hand-off
        topic for member 0 of a group (not shared: every hand-off is for it)."""
        own = (self.handoff_topic,) if self.shared and self.judges else ()
        return self.filters(filters) + own

    @property
    def handoff_topic(self) -> str:
        return f"{self.prefix}/cluster/{self.group}/judge"

    def figures(self) -> dict[str, object]:
        return {"group": self.group, "members": self.members, "member_index": self.index, "judges": self.judges}


class GroupLink:
    """A member's link to the judge of its group: its records handed off (members k > 0), or merged
    with the hand-offs of the others and judged here (member 0).

    `watermark()` is the receive time before which the service has taken in every message; `publish`
    is the transport's; `clock` is the clock the judge judges by; `intake` the one the pipeline checks
    what this member receives against (for the judge, a clock of its own: see `Gateway`)."""

    counts = True

    def __init__(self, membership: Membership, pipeline: Pipeline, publish: Publish, watermark: Callable[[], float],
                 clock: DataClock):
        self.membership = membership
        self.pipeline = pipeline
        if not isinstance(pipeline.judge, Recorder):
            raise TypeError("in a group every member's pipeline records its judge calls (Pipeline(records=True))")
        self.recorder = pipeline.judge
        self.publish = publish
        self.watermark = watermark
        self.clock = clock
        self.judges = membership.judges
        # The judge judges on its clock only what the merge released; what it receives itself is checked
        # (stale, future) on a clock of its own, as every member does.
        self.intake = clock.fork() if self.judges else clock
        self.topic = membership.handoff_topic
        self.filters: tuple[str, ...] = (self.topic,) if self.judges else ()
        self.merge = Merge(membership.members, delay_s=membership.delay_s) if self.judges else None
        self.handoffs_sent = 0
        self.handoffs_received = 0
        self._refused: set[tuple[int | None, object]] = set()  # (member, version) already logged
        self._arrived = asyncio.Event()
        self._last_sent = self._last_busy = 0.0
        self._calls: list[AnyRecord] = []  # a member's records not handed off yet
        self._messages = 0

    # -- from the service's consumer ---------------------------------------------------
    def take(self, batch: list[Inbound], now: float) -> list[Inbound]:
        """The judge: the hand-offs of `batch` go into the merge; returns the rest."""
        if self.merge is None or not any(m.topic == self.topic for m in batch):
            return batch
        rest = []
        for message in batch:
            if message.topic != self.topic:
                rest.append(message)
                continue
            self.handoffs_received += 1
            try:
                h = handoff.decode(message.payload)
            except HandoffError as exc:
                self._refuse(message, exc)
                self.merge.add(-1, float("-inf"), [], 0, [message], now)  # acknowledged: sending it again is no help
                continue
            self.merge.add(h.member, h.watermark, h.calls, h.messages, [message], now)
        self._arrived.set()
        return rest

    def _refuse(self, message: Inbound, exc: HandoffError) -> None:
        if isinstance(exc, HandoffVersionError):
            key = (exc.member, exc.version)
            if key in self._refused:
                return  # said once per member and version: it sends a hundred a second
            self._refused.add(key)
        log.error("hand-off on %s dropped (%d bytes): %s", self.topic, len(message.payload), exc)

    def recorded(self, messages: int, now: float) -> None:
        """This member's records of a batch: into the merge (the judge), or kept for the next
        hand-off, which goes with the next heartbeat or at once when it is large."""
        calls = self.recorder.take()
        if self.merge is not None:
            self.merge.add(self.membership.index, self.watermark(), calls, messages, [], now)
            self._arrived.set()
            return
        self._calls += calls
        self._messages += messages
        # After a quiet second the heartbeat sleeps longer: the first records go at once.
        if len(self._calls) >= FLUSH_CALLS or time.monotonic() - self._last_busy > 1.0:
            self.flush()

    def flush(self) -> None:
        """Members: hand off what was recorded since the last hand-off (a heartbeat when nothing was)."""
        if self.judges:
            return
        calls, messages = self._calls, self._messages
        self._calls, self._messages = [], 0
        payload = handoff.encode(Handoff(self.membership.index, messages, self.watermark(), calls))
        # A heartbeat is worth nothing once stale: QoS 0, not queued for a member 0 that is away.
        self.publish(self.topic, payload, qos=1 if messages or calls else 0)
        self._last_sent = time.monotonic()
        if messages or calls:
            self.handoffs_sent += 1
            self._last_busy = self._last_sent

    # -- the link's own task -------------------------------------------------------------
    async def run(self, put: JudgedSink) -> None:
        """The judge: judge what the merge releases, as it arrives; members: heartbeats."""
        try:
            if self.judges:
                await self._judge(put)
            else:
                await self._heartbeat()
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                if self._calls or self._messages:
                    self.flush()
            raise

    async def finish(self, put: JudgedSink) -> None:
        """Once the service has stopped and drained: the records not handed off yet (members), or
        everything the merge still holds, judged (the judge)."""
        self.flush()
        if self.merge is not None:
            await self._release(put, force=True)

    async def _judge(self, put: JudgedSink) -> None:
        while True:
            holding = self.merge is not None and len(self.merge) > 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), HOLD_RECHECK_S if holding else None)
            self._arrived.clear()
            await self._release(put)

    async def _release(self, put: JudgedSink, force: bool = False) -> None:
        assert self.merge is not None
        now = time.time()
        self.merge.add(self.membership.index, self.watermark(), [], 0, [], now)  # our own watermark moves on
        released = self.merge.release(now, force)
        if not released:
            return
        self.clock.observe_times(released.times)  # the stream clock learns from the records first, as from a batch
        await put(self.pipeline.judged(released.calls, released.messages, self.clock()), released.acks)

    async def _heartbeat(self) -> None:
        while True:
            idle = time.monotonic() - self._last_busy > 1.0
            await asyncio.sleep(HEARTBEAT_IDLE_S if idle else HEARTBEAT_S)
            if self._calls or self._messages or time.monotonic() - self._last_sent >= HEARTBEAT_S:
                self.flush()

    def figures(self) -> dict[str, int]:
        return {"handoffs_sent": self.handoffs_sent, "handoffs_received": self.handoffs_received}
