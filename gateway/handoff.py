"""The hand-off between the gateways of a group: the judge's records, and the message that carries them.

A member that does not judge writes down every call its pipeline makes on the judge as a
record (gateway/judge.py, `Recorder`); the judge of the group replays them (`Record.replay`) in
the order the merge puts them (gateway/cluster.py). On the wire a record is a JSON array led by
its tag and its receive time, `["o", at, device_id, cell, lat, lon, ts, seq, battery]`, and a
`Handoff` is one object per batch:

    {"type": "handoff", "v": 2, "member": 1, "messages": 120, "watermark": 1760000000.25,
     "calls": [["o", ...], ["r", ...], ...]}

Every member of a group must speak the same version (`HANDOFF_VERSION`): `decode` refuses a
hand-off of another version with `HandoffVersionError`, naming both versions and the member, and
any other malformed one with `HandoffError` saying what is wrong. A change to a record's fields
is a new version.

    HandoffError            a hand-off that cannot be read
    └── HandoffVersionError  a member of another version
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import msgspec

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.types import Judging

__all__ = [
    "HANDOFF_VERSION",
    "AnyRecord",
    "CameraRecord",
    "Handoff",
    "HandoffError",
    "HandoffVersionError",
    "ObserveRecord",
    "OutOfRangeRecord",
    "ReadingRecord",
    "Record",
    "StatusRecord",
    "TimeRejectedRecord",
    "decode",
    "encode",
]

HANDOFF_VERSION = 2  # 1: untyped lists, the receive time repeated in each "o" record


class HandoffError(GatewayError):
    """A hand-off that cannot be read (not JSON, a field missing or of the wrong type)."""


class HandoffVersionError(HandoffError):
    """A hand-off from a member of another version of GridTwin."""

    def __init__(self, member: int | None, version: object):
        self.member, self.version = member, version
        who = "a member that does not say which" if member is None else f"member {member}"
        super().__init__(f"hand-off version {version!r} from {who}; this gateway reads version {HANDOFF_VERSION}: "
                         "run the same GridTwin version on every member of the group")


class Record(msgspec.Struct, frozen=True, array_like=True, gc=False, tag_field="op"):
    """One call on the judge; `at` is the receive time of the message it comes from (the merge's order)."""

    at: float
    # Records that carry a device's own timestamp, which the judge's stream clock learns from.
    stamped: ClassVar[bool] = False

    def replay(self, judge: Judging, now: float, out: list) -> None:
        raise NotImplementedError

    def stamp(self) -> tuple[str, float]:
        """(device id, its timestamp), for the records that are `stamped`."""
        raise NotImplementedError


class ObserveRecord(Record, frozen=True, tag="o"):
    device_id: str
    cell: str | None
    lat: float | None
    lon: float | None
    ts: float
    seq: int | None
    battery: float | None
    stamped: ClassVar[bool] = True

    def replay(self, judge: Judging, now: float, out: list) -> None:
        judge.observe(self.at, self.device_id, self.cell, self.lat, self.lon, self.ts, self.seq, self.battery, now,
                      out)

    def stamp(self) -> tuple[str, float]:
        return self.device_id, self.ts


class TimeRejectedRecord(Record, frozen=True, tag="t"):
    device_id: str
    cell: str | None
    ts: float
    stamped: ClassVar[bool] = True

    def replay(self, judge: Judging, now: float, out: list) -> None:
        judge.time_rejected(self.at, self.device_id, self.cell, self.ts, now, out)

    def stamp(self) -> tuple[str, float]:
        return self.device_id, self.ts


class StatusRecord(Record, frozen=True, tag="s"):
    device_id: str
    cell: str | None
    online: bool

    def replay(self, judge: Judging, now: float, out: list) -> None:
        judge.status(self.at, self.device_id, self.cell, self.online, now, out)


class OutOfRangeRecord(Record, frozen=True, tag="x"):
    device_id: str
    cell: str | None
    metric: str
    value: float

    def replay(self, judge: Judging, now: float, out: list) -> None:
        judge.out_of_range(self.at, self.device_id, self.cell, self.metric, self.value, now, out)


class ReadingRecord(Record, frozen=True, tag="r"):
    device_id: str
    metric: str
    value: float
    ts: float
    cell: str
    lat: float | None
    lon: float | None

    def replay(self, judge: Judging, now: float, out: list) -> None:
        judge.reading(self.at, self.device_id, self.metric, self.value, self.ts, self.cell, self.lat, self.lon, out)


class CameraRecord(Record, frozen=True, tag="c"):
    camera_id: str
    event_id: str
    type: str
    state: str
    confidence: float
    ts: float
    cell: str
    lat: float | None
    lon: float | None
    stamped: ClassVar[bool] = True

    def replay(self, judge: Judging, now: float, out: list) -> None:
        judge.camera(self.at, self.camera_id, self.event_id, self.type, self.state, self.confidence, self.ts,
                     self.cell, self.lat, self.lon, out)

    def stamp(self) -> tuple[str, float]:
        return self.camera_id, self.ts


AnyRecord = ObserveRecord | TimeRejectedRecord | StatusRecord | OutOfRangeRecord | ReadingRecord | CameraRecord


class Handoff(msgspec.Struct, frozen=True, tag_field="type", tag="handoff"):
    """One member's batch for the judge: how many messages it stands for, its watermark (every
    message it received before this time is in this hand-off or an earlier one) and its records.
    An empty one is a heartbeat."""

    member: int
    messages: int
    watermark: float
    calls: list[AnyRecord]
    v: int = HANDOFF_VERSION


class _Head(msgspec.Struct):
    """What any version of a hand-off is expected to say of itself, read when the whole does not decode."""

    v: object = None
    member: int | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Handoff)
_head = msgspec.json.Decoder(_Head)


def encode(handoff: Handoff) -> bytes:
    return _encoder.encode(handoff)


def decode(payload: bytes) -> Handoff:
    """The hand-off in `payload`. Raises HandoffVersionError for a member of another version, and
    HandoffError naming what is wrong for anything else that is not a hand-off of this version."""
    try:
        handoff = _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        try:
            head = _head.decode(payload)
        except msgspec.DecodeError:
            raise HandoffError(f"hand-off is not a JSON object: {exc}") from None
        if head.v != HANDOFF_VERSION:
            raise HandoffVersionError(head.member, head.v) from None
        raise HandoffError(f"hand-off of member {head.member} cannot be read: {exc}") from None
    if handoff.v != HANDOFF_VERSION:
        raise HandoffVersionError(handoff.member, handoff.v)
    return handoff
