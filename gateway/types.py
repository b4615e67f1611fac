"""The gateway's seams, as protocols: what each part may expect of the others.

    Transport    one MQTT connection (gateway/wire.py, gateway/transport.py); an async context manager
    Adapter      one payload format (gateway/adapters/)
    Judging      the judge's interface (gateway/judge.py: Judge decides, Recorder writes down)
    JudgeLink    the way from the pipeline's records to the judge: local in a gateway on its own,
                 a hand-off to the judge in a group of gateways (gateway/cluster.py)
    DataClock    the time the gateway judges by (gateway/streamclock.py)
    IngestStore  the store as the gateway's write path uses it (twin.store.TwinStore is one)

A real implementation and a fake for unit tests each satisfy the protocol without naming it.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:
    from types import TracebackType

    from gateway.messages import Decoded
    from gateway.outcome import Outcome
    from mqttwire.packets import Inbound
    from twin.devices.device import Device, DeviceStatus
    from twin.devices.health import Vitals
    from twin.sensing.anomalies import Anomaly
    from twin.sensing.cellstate import CellState
    from twin.sensing.readings import CameraEvent, DeadLetter, Reading

__all__ = ["Adapter", "ConnectionState", "DataClock", "IngestStore", "JudgeLink", "Judging", "Publish", "Transport"]


class ConnectionState(enum.Enum):
    """Where a transport is in its life: IDLE until started, once; CLOSED for good once stopped."""

    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # lost; the transport reconnects by itself
    CLOSED = "closed"


class Publish(Protocol):
    def __call__(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None: ...


class Transport(Protocol):
    """One MQTT connection: received messages wait in `inbox` (woken by the `wake` it was given),
    are taken by `drain`, and acknowledged by `ack` once their rows are stored. Started once, by
    `async with` (a second start is refused); it reconnects by itself while it runs."""

    state: ConnectionState
    protocol: int | None  # 4 (3.1.1) or 5 once connected
    reconnects: int
    inbox: deque[Inbound]

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...

    def drain(self, limit: int) -> list[Inbound]: ...

    def ack(self, messages: Sequence[Inbound]) -> None: ...

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None: ...

    def subscribe(self, filters: Sequence[str]) -> None: ...


class Adapter(Protocol):
    """One payload format. `match` routes a topic (None: not this adapter's); `decode` appends what
    a message holds to `out`. The rest say what the pipeline needs to know beyond decoding."""

    @property
    def name(self) -> str: ...

    @property
    def creates_pending(self) -> bool:
        """Whether devices it reports that the registry does not know become pending ones."""
        ...

    @property
    def zone_cells(self) -> Mapping[tuple[str, str], str]:
        """(camera id, zone) -> cell code, from its options."""
        ...

    @property
    def filters(self) -> tuple[str, ...]: ...

    def match(self, topic: str) -> Any: ...

    def decode(self, message: Inbound, route: Any, out: Decoded) -> None: ...

    def describe(self, device_id: str) -> dict:
        """What a pending device is (kind, name, model, attributes), for the technician."""
        ...

    def take_subscriptions(self) -> list[str]:
        """Topics learned since the last call (Home Assistant's discovery), to subscribe at run time."""
        ...


class Judging(Protocol):
    """The judge's interface. Every call names `at`, the receive time of the message it comes from."""

    def observe(self, at: float, device_id: str, cell: str | None, lat: float | None, lon: float | None, ts: float,
                seq: int | None, battery: float | None, now: float, out: list[Anomaly]) -> None: ...

    def time_rejected(self, at: float, device_id: str, cell: str | None, ts: float, now: float,
                      out: list[Anomaly]) -> None: ...

    def status(self, at: float, device_id: str, cell: str | None, online: bool, now: float,
               out: list[Anomaly]) -> None: ...

    def out_of_range(self, at: float, device_id: str, cell: str | None, metric: str, value: float, now: float,
                     out: list[Anomaly]) -> None: ...

    def reading(self, at: float, device_id: str, metric: str, value: float, ts: float, cell: str,
                lat: float | None, lon: float | None, out: list[Anomaly]) -> None: ...

    def camera(self, at: float, camera_id: str, event_id: str, type_: str, state: str, confidence: float, ts: float,
               cell: str, lat: float | None, lon: float | None, out: list[Anomaly]) -> None: ...

    def tick(self, now: float, out: list[Anomaly]) -> None: ...

    def apply(self, anomaly: Anomaly) -> None: ...

    def take_due(self, now: float) -> list[CellState]: ...


class DataClock(Protocol):
    """The time the gateway judges by: the wall clock, or the devices' own timestamps (StreamClock),
    which learns from every decoded batch (`observe`) and from a group's records (`observe_times`)."""

    def __call__(self) -> float: ...

    def observe(self, decoded: Decoded) -> None: ...

    def observe_times(self, pairs: Iterable[tuple[str, float]]) -> None: ...

    def fork(self) -> DataClock:
        """A clock of the same kind with a state of its own (one for intake, one for judging)."""
        ...


class JudgeLink(Protocol):
    """From the pipeline to the judge, and from the judge to the store.

    A gateway on its own judges as it resolves, so its link has nothing to do (`LocalLink`); in a
    group every member's records go to the judge, and the judge's outcomes come back through `run`
    (gateway/cluster.py). The service calls `take` on every batch drained, `recorded` after the
    batch is resolved, and `finish` once stopped and drained."""

    filters: tuple[str, ...]  # more topics to subscribe (the judge of a group: the hand-offs)
    counts: bool  # the pipeline counts what its judge judges as `judged` (only in a group)
    intake: DataClock  # the clock what this gateway receives is checked against (stale, future)

    def take(self, batch: list[Inbound], now: float) -> list[Inbound]: ...

    def recorded(self, messages: int, now: float) -> None: ...

    async def run(self, put: JudgedSink) -> None: ...

    async def finish(self, put: JudgedSink) -> None: ...

    def figures(self) -> dict[str, int]: ...


class JudgedSink(Protocol):
    """Where a link puts what its judge decided, with the messages to acknowledge once it is stored."""

    async def __call__(self, outcome: Outcome, messages: Sequence[Inbound] = ()) -> None: ...


class IngestStore(Protocol):
    """The store as the gateway's write path and registry cache use it (twin.store.TwinStore)."""

    url: str
    local: bool

    def list_devices(self) -> list[Device]: ...

    def get_devices(self, device_ids: Iterable[str]) -> list[Device]: ...

    def put_devices(self, devices: Iterable[Device]) -> int: ...

    def cell_states(self) -> dict[str, CellState]: ...

    def write_readings(self, readings: Sequence[Reading]) -> int: ...

    def write_camera_events(self, events: Sequence[CameraEvent]) -> int: ...

    def write_anomalies(self, anomalies: Sequence[Anomaly]) -> int: ...

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> int: ...

    def set_device_statuses(self, statuses: Iterable[tuple[str, DeviceStatus, float]]) -> None: ...

    def touch_devices(self, last_seen: dict[str, float]) -> None: ...

    def put_cell_states(self, states: Iterable[CellState]) -> None: ...

    def assign_cell(self, device_id: str, cell_code: str) -> int: ...

    def record_vitals(self, vitals: Sequence[Vitals]) -> None: ...
