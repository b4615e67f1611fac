"""The judge's merge of every member's records into one stream, in the order the messages arrived.

The broker hands a device's consecutive messages to different members, and a member's records
reach the judge later than the judge's own. The merge therefore holds records back until every
member it hears from has reported a *watermark* (a receive time before which it has handed off
everything) past them, merges them by receive time, and within what it releases together puts
each device's readings in timestamp order. A member that has said nothing for `ABSENT_S` is not
waited for (docs/scaling.md).
"""

from __future__ import annotations

import bisect
import collections
import operator
from collections.abc import Sequence

from gateway.handoff import CameraRecord, ObserveRecord, OutOfRangeRecord, ReadingRecord, Record, StatusRecord
from mqttwire.packets import Inbound

__all__ = ["ABSENT_S", "Merge", "Released"]

ABSENT_S = 1.0
_AT = operator.attrgetter("at")  # a record's receive time


class Released:
    """What one release gives the judge: records in order, the (device, timestamp) pairs for its
    stream clock, how many messages they complete, and the hand-offs to acknowledge once stored."""

    __slots__ = ("acks", "calls", "messages", "times")

    def __init__(self, calls: list[Record], times: list[tuple[str, float]], messages: int, acks: list[Inbound]):
        self.calls, self.times, self.messages, self.acks = calls, times, messages, acks

    def __bool__(self) -> bool:
        return bool(self.calls or self.messages or self.acks)


class _Part:
    """One added batch: records not released yet, the messages it stands for, what to ack once all are."""

    __slots__ = ("acks", "left", "messages")

    def __init__(self, left: int, messages: int, acks: Sequence[Inbound]):
        self.left, self.messages, self.acks = left, messages, acks


class Merge:
    """`add` a batch of records with its watermark; `release` what every present member has passed."""

    def __init__(self, members: int, absent_s: float = ABSENT_S, delay_s: float = 0.0):
        self.members = members
        self.absent_s = absent_s
        self.delay_s = delay_s
        self.watermarks: dict[int, float] = {}
        self.heard: dict[int, float] = {}
        # Per member, its batches in arrival order, each (receive times, records sorted by receive time,
        # part): a member's later batch holds only messages it received later, so a release takes whole
        # batches from the left and cuts at most one.
        self._queues: dict[int, collections.deque[tuple[list[float], list[Record], _Part]]] = {}
        self._held = 0
        self._done: list[_Part] = []  # parts whose every record was released

    def __len__(self) -> int:
        return self._held

    def add(self, member: int, watermark: float, calls: Sequence[Record], messages: int, acks: Sequence[Inbound],
            now: float) -> None:
        part = _Part(len(calls), messages, acks)
        self.heard[member] = now
        if watermark > self.watermarks.get(member, float("-inf")):
            self.watermarks[member] = watermark
        if not calls:
            self._done.append(part)
            return
        ordered = sorted(calls, key=_AT)  # stable: a message's records keep their order
        self._held += len(ordered)
        self._queues.setdefault(member, collections.deque()).append(([c.at for c in ordered], ordered, part))

    def bound(self, now: float) -> float:
        """Records received before this time can be judged: every member still heard from is past it,
        by `delay_s` (two members' receive times can be the wrong way round by that much)."""
        present = [w for m, w in self.watermarks.items() if now - self.heard.get(m, 0.0) <= self.absent_s]
        return min([*present, now]) - self.delay_s

    def release(self, now: float, force: bool = False) -> Released:
        bound = float("inf") if force else self.bound(now)
        ready: list[Record] = []
        for queue in self._queues.values():
            while queue:
                times, calls, part = queue[0]
                cut = len(times) if times[-1] <= bound else bisect.bisect_right(times, bound)
                if cut == 0:
                    break
                part.left -= cut
                if cut == len(times):
                    ready += calls
                    queue.popleft()
                    self._done.append(part)
                else:
                    ready += calls[:cut]
                    queue[0] = (times[cut:], calls[cut:], part)
                    break
        self._held -= len(ready)
        done, self._done = self._done, []
        calls = _in_time_order(_as_one_gateway(ready))
        stamps = [c.stamp() for c in calls if c.stamped]
        return Released(calls, stamps, sum(part.messages for part in done), [m for part in done for m in part.acks])


def _as_one_gateway(ready: list[Record]) -> list[Record]:
    """As one gateway judges a batch: statuses first, then readings, then camera events; each in the
    order received (sorted runs of each member: cheap for the sort)."""
    statuses: list[Record] = [c for c in ready if type(c) is StatusRecord]
    cameras: list[Record] = [c for c in ready if type(c) is CameraRecord]
    if statuses or cameras:
        ready = [c for c in ready if type(c) is not StatusRecord and type(c) is not CameraRecord]
    ready.sort(key=_AT)
    if statuses or cameras:
        statuses.sort(key=_AT)
        cameras.sort(key=_AT)
        ready = statuses + ready + cameras
    return ready


def _in_time_order(calls: list[Record]) -> list[Record]:
    """Each device's readings (an observe record and the reading and out-of-range records after it) in
    timestamp order, in the places its readings took: the broker's spread over members must not look
    like a device sending out of order."""
    last: dict[str, float] = {}
    for c in calls:
        if type(c) is ObserveRecord:
            if c.ts < last.get(c.device_id, c.ts):
                break
            last[c.device_id] = c.ts
    else:
        return calls  # the usual case: every device's readings already in order
    groups: list[list[Record]] = []
    for call in calls:
        head = groups[-1][0] if groups else None
        if (type(call) in (ReadingRecord, OutOfRangeRecord) and type(head) is ObserveRecord
                and head.device_id == call.device_id):  # type: ignore[attr-defined]
            groups[-1].append(call)
        else:
            groups.append([call])
    places: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        if type(group[0]) is ObserveRecord:
            places.setdefault(group[0].device_id, []).append(i)
    moved = False
    for indices in places.values():
        if len(indices) < 2:
            continue
        ordered = sorted((groups[i] for i in indices), key=lambda g: g[0].ts)  # type: ignore[attr-defined]
        for i, group in zip(indices, ordered):
            if groups[i] is not group:
                groups[i] = group
                moved = True
    if not moved:
        return calls
    return [call for group in groups for call in group]
