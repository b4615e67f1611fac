"""The twin store interface that both backends (SQLite, PostgreSQL + PostGIS) implement.

All methods are synchronous and safe to call from several threads; async
callers (gateway, web app) run them in a worker thread. Times are Unix epoch
seconds (float, UTC) at this interface.
"""

from __future__ import annotations

import abc
from typing import Iterable, Sequence

from twin.anomalies import Anomaly
from twin.cells import CellState
from twin.devices import Device, DeviceStatus
from twin.readings import Bucket, CameraEvent, DeadLetter, Reading


class TwinStore(abc.ABC):
    """One interface, two backends. Every write is idempotent on its natural key."""

    url: str

    # -- lifetime -----------------------------------------------------------
    @abc.abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the names applied (empty when up to date)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "TwinStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- grid ---------------------------------------------------------------
    @abc.abstractmethod
    def put_grid(self, grid) -> None:
        """Replace the stored grid (twin.grid.Grid) with `grid`: cells, hierarchy and metadata."""

    @abc.abstractmethod
    def load_grid(self):
        """The stored twin.grid.Grid, or None when no grid was stored yet."""

    # -- devices ------------------------------------------------------------
    @abc.abstractmethod
    def put_devices(self, devices: Iterable[Device]) -> int:
        """Insert or replace devices by id; return how many were written."""

    @abc.abstractmethod
    def get_device(self, device_id: str) -> Device | None: ...

    @abc.abstractmethod
    def list_devices(self, cell_code: str | None = None, status: DeviceStatus | None = None) -> list[Device]: ...

    @abc.abstractmethod
    def set_device_status(self, device_id: str, status: DeviceStatus, ts: float) -> None:
        """Record a status change (online/offline/...) and, for online, the last-seen time
        (never moved backwards). An unregistered device is logged and ignored."""

    @abc.abstractmethod
    def touch_devices(self, last_seen: dict[str, float]) -> None:
        """Advance devices' last-seen times (never moves one backwards)."""

    # -- readings -----------------------------------------------------------
    @abc.abstractmethod
    def write_readings(self, readings: Sequence[Reading]) -> int:
        """Store readings; a reading whose (device_id, metric, ts) is already stored is skipped.
        Return the number of new rows."""

    @abc.abstractmethod
    def readings(
        self,
        *,
        cell_code: str | None = None,
        device_id: str | None = None,
        metric: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        """Readings matching every given filter, `start <= ts < end`, oldest first."""

    @abc.abstractmethod
    def aggregate(self, cell_code: str, metric: str, start: float, end: float, bucket_s: float) -> list[Bucket]:
        """Per-bucket count/mean/min/max of a metric in a cell; buckets aligned to the epoch."""

    @abc.abstractmethod
    def count_readings(self) -> int: ...

    @abc.abstractmethod
    def assign_cell(self, device_id: str, cell_code: str) -> int:
        """Give the readings and camera events of `device_id` that have no cell the cell `cell_code`
        (a pending device that a technician placed); return how many readings changed."""

    # -- camera events ------------------------------------------------------
    @abc.abstractmethod
    def write_camera_events(self, events: Sequence[CameraEvent]) -> int:
        """Store camera events, idempotent on (camera_id, event_id, state); return new rows."""

    @abc.abstractmethod
    def camera_events(self, *, cell_code: str | None = None, start: float | None = None, limit: int = 1000) -> list[CameraEvent]:
        """Camera events newest first, `ts >= start`."""

    # -- cell state ---------------------------------------------------------
    @abc.abstractmethod
    def put_cell_states(self, states: Iterable[CellState]) -> None:
        """Insert or replace the latest state of cells."""

    @abc.abstractmethod
    def cell_states(self) -> dict[str, CellState]:
        """The latest stored state of every cell that has one."""

    # -- anomalies ----------------------------------------------------------
    @abc.abstractmethod
    def write_anomalies(self, anomalies: Sequence[Anomaly]) -> int:
        """Store anomalies, idempotent on (id, status); return new rows."""

    @abc.abstractmethod
    def anomalies(
        self,
        *,
        cell_code: str | None = None,
        start: float | None = None,
        open_only: bool = False,
        limit: int = 1000,
    ) -> list[Anomaly]:
        """Anomalies newest first. With `open_only`, the opened ones with no cleared row."""

    # -- dead letters -------------------------------------------------------
    @abc.abstractmethod
    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> int: ...

    @abc.abstractmethod
    def dead_letter_counts(self, device_id: str | None = None) -> dict[str, int]:
        """Reason -> number of dead letters (of one device, when given)."""
