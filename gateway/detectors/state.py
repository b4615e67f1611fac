"""What the detection engine remembers: per device, and per device and metric (a track)."""

from __future__ import annotations

import enum
from collections import deque

from gateway.detectors.context import CrossSection, HourlyBaseline
from gateway.detectors.signatures import SIGNATURES, kinds_of_metric
from twin.sensing.catalog import Level, Metric


class Phase(enum.Enum):
    NORMAL = "normal"
    PENDING = "pending"  # deviating, waiting for a second reading or for corroboration
    OPEN = "open"  # an incident anomaly is open
    SUPPRESSED = "suppressed"  # deviating, but judged a device fault: no incident until back to normal


class Candidate:
    """A deviation waiting to be confirmed."""

    __slots__ = ("before", "context", "deadline", "detectors", "level", "onset_ts", "onset_value", "rate",
                 "readings")

    def __init__(self, onset_ts: float, onset_value: float, level: Level, detectors: set[str],
                 deadline: float | None, context: dict, rate: float | None, before: float | None):
        self.onset_ts, self.onset_value, self.level = onset_ts, onset_value, level
        self.detectors = detectors
        self.deadline = deadline  # None: no reporting interval known, decide at once
        self.readings = 1
        self.context = context
        self.rate = rate
        self.before = before  # the value before the deviation


HISTORY = 8  # readings a track remembers
GAPS = 9  # times between readings a device remembers, for its reporting interval


class Track:
    """One device's one metric: its level, last value, runs, baseline, and incident phase."""

    __slots__ = ("anomaly_id", "baseline", "below", "boolean", "candidate", "cell", "changes", "cooldown_until",
                 "ctx_kind", "deviating", "device_id", "drifting", "elevated", "floor", "history", "hour", "judged",
                 "kinds", "last_ts", "last_value", "lat", "level", "log", "lon", "metric", "open_threshold",
                 "open_type", "opened_from", "own", "pairs", "peer", "phase", "rate_limit", "repeat", "repeats",
                 "residual", "residual_ts", "run", "run_start", "section", "severity", "sign", "signals", "spikes",
                 "stuck")

    def __init__(self, device_id: str, metric: Metric, section: CrossSection, baseline_size: int,
                 min_samples: int = 1, min_days: int = 1):
        self.device_id, self.metric = device_id, metric
        self.kinds = kinds_of_metric(metric.name)
        self.signals = bool(self.kinds & SIGNATURES.keys())  # it points to a kind of incident
        self.cell = ""  # "" until the first reading places it
        self.lat: float | None = None
        self.lon: float | None = None
        self.level = Level.NORMAL
        self.last_ts = float("-inf")
        self.last_value: float | None = None
        self.run = 0  # identical readings in a row
        self.run_start = 0.0
        self.changes = 0  # times the value changed: a sensor that never varies is not "stuck"
        self.baseline = HourlyBaseline(baseline_size, min_samples, min_days)
        self.elevated = 0.0  # share of recent readings far above (+) or below (-) the baseline, time-weighted
        self.phase = Phase.NORMAL
        self.candidate: Candidate | None = None
        self.anomaly_id: str | None = None
        self.opened_from: Candidate | None = None  # the deviation the open anomaly came from
        self.section = section  # what every device of the metric shows now
        self.floor = 0.0  # least robust spread
        self.sign = 1.0 if metric.direction == "above" else -1.0
        self.rate_limit: float | None = None  # units per second past which a rise is sudden
        self.boolean = metric.kind == "bool"
        self.below: float | None = None  # values under this are normal, without the level rules
        self.ctx_kind: str | None = None  # what the last z was judged against: "baseline" | "peers"
        self.own = self.peer = (0.0, 0.0, 0)  # (baseline, spread, samples) of each context
        self.hour = 0
        self.stuck = self.drifting = False  # its sensor_stuck / sensor_drift alert is open
        self.judged = 0.0  # the last value on the scale context is judged on (log for concentrations)
        self.residual, self.residual_ts = 0.0, float("-inf")  # last value minus its baseline median
        self.repeat = 0.0  # share of readings equal to the one before (long memory)
        self.pairs = self.repeats = 0.0  # readings that had one before, and that repeated it
        self.severity = Level.NORMAL
        self.open_type = ""
        self.open_threshold: float | None = None
        self.spikes: deque[float] | tuple[()] = ()  # times it spiked (a deque once it has: most never do)
        self.cooldown_until = float("-inf")
        self.deviating = False  # the last reading deviated
        # The last HISTORY readings: (ts, value, deviating, z against its own baseline). A list kept short
        # by hand: a deque's first block alone is 600 bytes, times every device and metric.
        self.history: list[tuple[float, float, bool, float | None]] = []
        self.log = False  # context on log(1 + value): concentrations vary by factors, not by amounts

    @property
    def key(self) -> tuple[str, str]:
        return self.device_id, self.metric.name

    def spiked(self, ts: float) -> None:
        spikes = self.spikes
        if not isinstance(spikes, deque):
            spikes = self.spikes = deque(maxlen=16)
        spikes.append(ts)


class DeviceState:
    """One device: reporting interval, sequence numbers, clock, battery, connection."""

    __slots__ = ("battery", "cell", "duplicates", "gap_count", "gaps", "id", "interval", "last_ts", "lat", "lon",
                 "max_seq", "message_key", "message_newest", "message_now", "ok_run", "online", "out_of_order",
                 "out_of_range", "seen", "silent_deadline", "skew_run", "tracks")

    def __init__(self, device_id: str):
        self.id = device_id
        self.cell: str | None = None
        self.lat: float | None = None
        self.lon: float | None = None
        self.last_ts = float("-inf")
        self.gaps: list[float] = []  # the last GAPS times between readings (a short list, as Track.history)
        self.gap_count = 0
        self.interval: float | None = None
        self.max_seq: int | None = None
        self.seen: deque[tuple[int | None, float]] = deque(maxlen=32)  # recent (seq, ts)
        # Times of repeated and of late messages: deques once there are any (most devices never send one).
        self.duplicates: deque[float] | tuple[()] = ()
        self.out_of_order: deque[float] | tuple[()] = ()
        self.skew_run = 0
        self.ok_run = 0
        self.message_key: float | None = None  # receive time of the message being read
        self.message_newest = float("-inf")
        self.message_now = 0.0
        self.battery: float | None = None
        self.online = True
        self.tracks: dict[str, Track] = {}
        self.silent_deadline: float | None = None
        self.out_of_range: dict[str, list[float]] = {}  # metric -> times of refused values
