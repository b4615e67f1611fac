"""`[detection]`: the parameters of the gateway's detectors (gateway/detectors/), documented one
by one in docs/detection.md. Times are seconds of the data's own clock (payload timestamps),
so a scenario played a thousand times faster than real time is judged the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from twin.errors import ConfigError

__all__ = ["DetectionSettings"]


@dataclass(frozen=True)
class DetectionSettings:
    # Local time zone of the hour-of-day baselines.
    utc_offset_h: float = 8.0

    # -- context: what is usual for this device at this hour, or for its peers right now ---------
    baseline_min_samples: int = 6  # readings an hour-of-day bucket needs before it counts ...
    baseline_min_days: int = 2  # ... from this many different days
    baseline_max_samples: int = 60  # readings kept per device, metric and hour of day
    peer_min: int = 5  # devices with the same metric needed for a cross-section
    common_min: int = 3  # ... and to take what all of them show right now out of each one's baseline
    peer_window_s: float = 1800.0  # a peer's latest reading counts if it is this recent
    scale_floor: float = 0.05  # a robust spread is at least this fraction of the warning threshold
    warning_context_z: float = 4.0  # a warning-level value must be this unusual to be an incident
    critical_context_z: float = 3.0  # a critical-level value must be this unusual to be an incident
    context_z: float = 10.0  # a value this unusual is an incident candidate even below the thresholds
    log_metrics: tuple[str, ...] = ("pm25", "pm10")  # judged on log(1 + value): they vary by factors

    # -- confirmation: one reading is not an incident ---------------------------------------------
    confirm_intervals: float = 1.5  # wait this many reporting intervals for a second reading
    interval_samples: int = 3  # readings needed to know a device's reporting interval
    settle_s: float = 2.0  # extra wait for data from slower links before deciding
    corroboration_window_s: float = 900.0  # evidence this close in time agrees or disagrees
    cooldown_s: float = 1800.0  # after an incident ends, no context-only anomaly from that sensor
    late_s: float = 900.0  # readings older than this on arrival (a backlog) are kept, not judged

    # -- rate of change ---------------------------------------------------------------------------
    rate_window_s: float = 600.0
    rate_fraction: float = 0.5  # a rise of this fraction of the warning threshold within the window
    rate_limits: Mapping[str, float] = field(default_factory=dict)  # metric -> units per minute (overrides)

    # -- device health ----------------------------------------------------------------------------
    flatline_readings: int = 6  # identical readings in a row ...
    flatline_min_s: float = 1800.0  # ... spanning at least this long: a stuck sensor
    spike_count: int = 2  # isolated one-reading excursions ...
    spike_window_s: float = 21600.0  # ... within this window: a spiking sensor
    drift_z: float = 2.5  # departure from the hour-of-day baseline that counts as elevated
    drift_window_s: float = 3600.0  # time constant of the share of elevated readings
    drift_share: float = 0.8  # share of elevated readings that makes a drift alert
    gradual_share: float = 0.5  # share of elevated readings before a crossing that makes it gradual ...
    gradual_readings: int = 3  # ... or the mean z of this many readings before it is at least gradual_z
    gradual_z: float = 2.0
    gradual_rise: float = 0.5  # ... and at least (1 - gradual_rise) of the z at the crossing
    offline_intervals: float = 3.0  # silent for this many reporting intervals: device_silent
    offline_min_s: float = 120.0
    battery_low: float = 0.15  # battery fraction
    clock_skew_s: float = 300.0  # a device clock this far off the stream's
    clock_skew_messages: int = 3  # ... in this many messages in a row
    transport_count: int = 3  # duplicated or out-of-order messages ...
    transport_window_s: float = 3600.0  # ... within this window

    # -- cameras ----------------------------------------------------------------------------------
    camera_min_confidence: float = 0.6  # a detection opens an anomaly on its own at this confidence
    camera_weak_confidence: float = 0.3  # below the minimum, it can still confirm a sensor

    def __post_init__(self) -> None:
        if isinstance(self.log_metrics, (list, tuple)):
            object.__setattr__(self, "log_metrics", tuple(str(m) for m in self.log_metrics))
        else:
            raise ConfigError("detection.log_metrics must be a list of metric names")
        if isinstance(self.rate_limits, Mapping):
            object.__setattr__(self, "rate_limits", {str(k): float(v) for k, v in self.rate_limits.items()})
        else:
            raise ConfigError("detection.rate_limits must be a table of metric = units per minute")
        for key in ("baseline_min_samples", "baseline_min_days", "baseline_max_samples", "peer_min", "common_min", "interval_samples",
                    "flatline_readings", "gradual_readings", "spike_count", "clock_skew_messages", "transport_count"):
            if not getattr(self, key) >= 1:
                raise ConfigError(f"detection.{key} must be at least 1")
        for key in ("peer_window_s", "confirm_intervals", "corroboration_window_s", "rate_window_s",
                    "rate_fraction", "spike_window_s", "drift_window_s", "offline_intervals", "clock_skew_s",
                    "transport_window_s", "scale_floor"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"detection.{key} must be positive")
        for key in ("drift_share", "gradual_share", "battery_low", "camera_min_confidence",
                    "camera_weak_confidence"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"detection.{key} must be between 0 and 1")
        if self.baseline_max_samples < self.baseline_min_samples:
            raise ConfigError("detection.baseline_max_samples must be at least baseline_min_samples")
