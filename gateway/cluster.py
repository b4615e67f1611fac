"""A group of gateways sharing the inbound topics: shared subscriptions, hand-offs, the merge, status.

    devices --> broker --$share/{group}/...--> member 0 .. member N-1   (round robin, no affinity)
    every member: decode, validate, locate, store readings, ack          (no state across devices)
                  and record what the judge should see (gateway/judge.py)
    member k > 0 --{prefix}/cluster/{group}/judge--> member 0            (a hand-off every 10 ms)
    member 0: merges its own records and the hand-offs in the order the messages were received,
              judges them (detection, live cell state), stores anomalies and cell states, runs cases

Why one judge and not the devices partitioned over the members: detection compares a reading
with every device of its metric and with the cells around it (gateway/judge.py), so a member
that saw only its share of the devices would decide differently. What costs the CPU, receiving,
decoding, locating and storing each message, is spread; the judge replays compact records.

Order: the broker hands a device's consecutive messages to different members, and a member's
records reach member 0 later than member 0's own. Member 0 therefore holds records back until
every member it hears from has reported a *watermark* (a receive time before which it has
handed off everything) past them, merges them by receive time, and within what it releases
together puts each device's readings in timestamp order. A member that has said nothing for
`ABSENT_S` is not waited for. A member hands off what it recorded every `HEARTBEAT_S` (at once
past `FLUSH_CALLS` records), and an empty hand-off when it recorded nothing, so that its
watermark moves on.

Member 0 is designated, not elected: it is the member whose `gateway.member_index` is 0. While
it is down the others keep storing and acknowledging, and the broker keeps their hand-offs in
member 0's persistent session (QoS 1) until it is back.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import logging
import operator
import time

import orjson

from gateway.judge import TS_INDEX
from twin.config import GatewaySettings

log = logging.getLogger(__name__)

__all__ = ["ClusterDesk", "Membership", "Handoff", "Merge", "HANDOFF_VERSION"]

HANDOFF_VERSION = 1
HEARTBEAT_S = 0.01  # a member hands off this often while it was busy lately ...
HEARTBEAT_IDLE_S = 0.1  # ... and this often after a second without messages (a heartbeat)
FLUSH_CALLS = 6000  # records that are handed off at once rather than with the next beat
ABSENT_S = 1.0
_AT = operator.itemgetter(1)  # a record's receive time


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

    def filters(self, filters) -> tuple[str, ...]:
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

    def subscriptions(self, filters) -> tuple[str, ...]:
        """What this member subscribes: the inbound `filters` (shared in a group), and the hand-off
        topic for member 0 of a group (not shared: every hand-off is for it)."""
        own = (self.handoff_topic,) if self.shared and self.judges else ()
        return self.filters(filters) + own

    @property
    def handoff_topic(self) -> str:
        return f"{self.prefix}/cluster/{self.group}/judge"


class Handoff:
    """One member's batch for the judge: how many messages it stands for, its watermark (every
    message it received before this time is in this hand-off or an earlier one) and the recorded
    judge calls (gateway/judge.py). An empty one is a heartbeat."""

    __slots__ = ("member", "messages", "watermark", "calls")

    def __init__(self, member: int, messages: int, watermark: float, calls: list):
        self.member, self.messages, self.watermark, self.calls = member, messages, watermark, calls

    def encode(self) -> bytes:
        return orjson.dumps({"v": HANDOFF_VERSION, "member": self.member, "messages": self.messages,
                             "watermark": self.watermark, "calls": self.calls})

    @classmethod
    def decode(cls, payload: bytes) -> "Handoff":
        """Raises ValueError naming what is wrong (a member of another version, a damaged payload)."""
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"hand-off is not JSON: {exc}") from None
        if not isinstance(body, dict) or body.get("v") != HANDOFF_VERSION:
            version = body.get("v") if isinstance(body, dict) else None
            raise ValueError(f"hand-off version {version!r}; this gateway reads version {HANDOFF_VERSION}")
        member, messages, watermark, calls = (body.get(k) for k in ("member", "messages", "watermark", "calls"))
        # Each record is checked where it is replayed (a malformed one fails its batch there, logged).
        if not (isinstance(member, int) and isinstance(messages, int) and isinstance(watermark, (int, float))
                and isinstance(calls, list) and (not calls or (isinstance(calls[0], list) and len(calls[0]) > 2))):
            raise ValueError("hand-off needs member, messages and watermark (numbers) and calls (a list of records)")
        return cls(member, messages, float(watermark), calls)


class Merge:
    """Member 0's merge of every member's records into one stream for the judge (module docstring).

    `add` a batch of records with its watermark; `release` what every present member has passed:
    (calls in order, the (device, timestamp) pairs for the stream clock, messages completed, and
    the hand-off messages to acknowledge once the judged outcome is stored).
    """

    def __init__(self, members: int, absent_s: float = ABSENT_S, delay_s: float = 0.0):
        self.members = members
        self.absent_s = absent_s
        self.delay_s = delay_s
        self.watermarks: dict[int, float] = {}
        self.heard: dict[int, float] = {}
        # Per member, its batches in arrival order, each [receive times, calls sorted by receive
        # time, part]: a member's later batch holds only messages it received later, so a release
        # takes whole batches from the left and cuts at most one.
        self._queues: dict[int, collections.deque] = {}
        self._held = 0
        self._done: list[list] = []  # parts whose every call was released

    def __len__(self) -> int:
        return self._held

    def add(self, member: int, watermark: float, calls: list, messages: int, acks: list, now: float) -> None:
        part = [len(calls), messages, acks]
        self.heard[member] = now
        if watermark > self.watermarks.get(member, float("-inf")):
            self.watermarks[member] = watermark
        if not calls:
            self._done.append(part)
            return
        calls = sorted(calls, key=_AT)  # stable: a message's calls keep their order
        self._held += len(calls)
        self._queues.setdefault(member, collections.deque()).append([[c[1] for c in calls], calls, part])

    def bound(self, now: float) -> float:
        """Records received before this time can be judged: every member still heard from is past it,
        by `delay_s` (two members' receive times can be the wrong way round by that much)."""
        present = [w for m, w in self.watermarks.items() if now - self.heard.get(m, 0.0) <= self.absent_s]
        return min(present + [now]) - self.delay_s

    def release(self, now: float, force: bool = False) -> tuple[list, list, int, list]:
        bound = float("inf") if force else self.bound(now)
        ready: list[list] = []
        for queue in self._queues.values():
            while queue:
                times, calls, part = queue[0]
                cut = len(times) if times[-1] <= bound else bisect.bisect_right(times, bound)
                if cut == 0:
                    break
                part[0] -= cut
                if cut == len(times):
                    ready += calls
                    queue.popleft()
                    self._done.append(part)
                else:
                    ready += calls[:cut]
                    queue[0] = [times[cut:], calls[cut:], part]
                    break
        self._held -= len(ready)
        # As one gateway judges a batch: statuses first, then readings, then camera events; each in
        # the order received (sorted runs of each member: cheap for the sort).
        statuses = [c for c in ready if c[0] == "s"]
        cameras = [c for c in ready if c[0] == "c"]
        if statuses or cameras:
            ready = [c for c in ready if c[0] != "s" and c[0] != "c"]
        ready.sort(key=_AT)
        if statuses or cameras:
            statuses.sort(key=_AT)
            cameras.sort(key=_AT)
            ready = statuses + ready + cameras
        done, self._done = self._done, []
        calls = _in_time_order(ready)
        times = [[c[2], c[TS_INDEX[c[0]]]] for c in calls if c[0] in TS_INDEX]
        return calls, times, sum(part[1] for part in done), [m for part in done for m in part[2]]


def _in_time_order(calls: list[list]) -> list[list]:
    """Each device's readings (an "o" call and the "r"/"x" calls after it) in timestamp order, in
    the places its readings took: the broker's spread over members must not look like a device
    sending out of order."""
    last: dict[str, float] = {}
    for c in calls:
        if c[0] == "o":
            if c[6] < last.get(c[2], c[6]):
                break
            last[c[2]] = c[6]
    else:
        return calls  # the usual case: every device's readings already in order
    groups: list[list[list]] = []
    for call in calls:
        if call[0] in ("r", "x") and groups and groups[-1][0][0] == "o" and groups[-1][0][2] == call[2]:
            groups[-1].append(call)
        else:
            groups.append([call])
    places: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        if group[0][0] == "o":
            places.setdefault(group[0][2], []).append(i)
    moved = False
    for indices in places.values():
        if len(indices) < 2:
            continue
        ordered = sorted((groups[i] for i in indices), key=lambda g: g[0][6])
        for i, group in zip(indices, ordered):
            if groups[i] is not group:
                groups[i] = group
                moved = True
    if not moved:
        return calls
    return [call for group in groups for call in group]


class ClusterDesk:
    """A gateway's dealings with its group: hand-offs out (members) or in (member 0), and its status.

    Every gateway, in a group or not, publishes its figures (`Gateway.summary()`) retained on
    `{prefix}/gateways/{instance}`, at most every `STATUS_MIN_S` while they change and every
    `STATUS_IDLE_S` otherwise: a heartbeat for operators, and the progress a test or a replay
    waits for.
    """

    STATUS_MIN_S = 0.05
    STATUS_IDLE_S = 5.0

    def __init__(self, membership: Membership, publish, summary, watermark, *, instance: str):
        self.membership = membership
        self.publish = publish
        self.summary = summary
        self.watermark = watermark  # () -> the receive time before which everything was taken in
        self.status_topic = f"{membership.prefix}/gateways/{instance}"
        self.handoffs_sent = 0
        self.handoffs_received = 0
        self.receives = membership.shared and membership.judges
        self.sends = membership.shared and not membership.judges
        self.merge = Merge(membership.members, delay_s=membership.delay_s) if self.receives else None
        self._handoff_topic = membership.handoff_topic
        self._last_sent = self._last_busy = 0.0
        self._calls: list[list] = []  # a member's records not handed off yet
        self._messages = 0

    def take(self, batch: list, now: float) -> tuple[list, int]:
        """Member 0: the hand-offs of `batch` go into the merge; returns (the rest, hand-offs taken)."""
        if not self.receives:
            return batch, 0
        topic = self._handoff_topic
        if not any(m.topic == topic for m in batch):
            return batch, 0
        rest, taken = [], 0
        for message in batch:
            if message.topic != topic:
                rest.append(message)
                continue
            taken += 1
            try:
                handoff = Handoff.decode(message.payload)
            except ValueError as exc:
                log.error("hand-off on %s dropped (%d bytes): %s", topic, len(message.payload), exc)
                self.merge.add(-1, float("-inf"), [], 0, [message], now)
                continue
            self.merge.add(handoff.member, handoff.watermark, handoff.calls, handoff.messages, [message], now)
        self.handoffs_received += taken
        return rest, taken

    def recorded(self, recorder, messages: int, now: float) -> None:
        """This member's records of a batch: into the merge (member 0), or (the others) kept for the
        next hand-off, which goes with the next heartbeat or at once when it is large."""
        if self.receives:
            self.merge.add(self.membership.index, self.watermark(), recorder.take(), messages, [], now)
        elif self.sends:
            self._calls += recorder.take()
            self._messages += messages
            # After a quiet second the heartbeat sleeps longer: the first records go at once.
            if len(self._calls) >= FLUSH_CALLS or time.monotonic() - self._last_busy > 1.0:
                self.flush()

    def flush(self) -> None:
        """Members: hand off what was recorded since the last hand-off (a heartbeat when nothing was)."""
        if not self.sends:
            return
        calls, messages = self._calls, self._messages
        self._calls, self._messages = [], 0
        self._send(messages, calls)

    def _send(self, messages: int, calls: list) -> None:
        handoff = Handoff(self.membership.index, messages, self.watermark(), calls)
        # A heartbeat is worth nothing once stale: QoS 0, not queued for a member 0 that is away.
        self.publish(self._handoff_topic, handoff.encode(), qos=1 if messages or calls else 0)
        self._last_sent = time.monotonic()
        if messages or calls:
            self.handoffs_sent += 1
            self._last_busy = self._last_sent

    @property
    def holding(self) -> bool:
        """Member 0: records are held back, waiting for the other members' watermarks."""
        return self.merge is not None and len(self.merge) > 0

    def release(self, now: float, force: bool = False):
        """Member 0: (calls, times, messages, acks) the merge can release now (see Merge)."""
        if self.merge is None:
            return [], [], 0, []
        self.merge.add(self.membership.index, self.watermark(), [], 0, [], now)  # our own watermark moves on
        return self.merge.release(now, force)

    def status(self) -> dict:
        m = self.membership
        return {"group": m.group, "members": m.members, "member_index": m.index, "judges": m.judges,
                "handoffs_sent": self.handoffs_sent, "handoffs_received": self.handoffs_received,
                **self.summary()}

    async def run(self) -> None:
        """Heartbeats (members) and the status (every gateway) while the gateway runs."""
        heartbeat = asyncio.create_task(self._heartbeat()) if self.sends else None
        last, last_at = None, 0.0
        try:
            while True:
                await asyncio.sleep(self.STATUS_MIN_S)
                status = self.status()
                now = time.monotonic()
                if status != last or now - last_at >= self.STATUS_IDLE_S:
                    self._publish_status(status)
                    last, last_at = status, now
        except asyncio.CancelledError:
            if heartbeat is not None:
                heartbeat.cancel()
            with contextlib.suppress(Exception):
                if self._calls or self._messages:
                    self.flush()
            with contextlib.suppress(Exception):
                self._publish_status({**self.status(), "stopped": True})
            raise

    async def _heartbeat(self) -> None:
        while True:
            idle = time.monotonic() - self._last_busy > 1.0
            await asyncio.sleep(HEARTBEAT_IDLE_S if idle else HEARTBEAT_S)
            if self._calls or self._messages or time.monotonic() - self._last_sent >= HEARTBEAT_S:
                self.flush()

    def _publish_status(self, status: dict) -> None:
        try:
            payload = orjson.dumps({**status, "time": time.time()}, option=orjson.OPT_NON_STR_KEYS)
            self.publish(self.status_topic, payload, qos=1, retain=True)
        except Exception:  # the status is a convenience: it never takes the gateway down
            log.exception("publishing the gateway status on %s failed", self.status_topic)
