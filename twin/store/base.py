"""The twin store interface that both backends (SQLite, PostgreSQL + PostGIS) implement.

All methods are synchronous and safe to call from several threads; async
callers (gateway, web app) run them in a worker thread. Times are Unix epoch
seconds (float, UTC) at this interface.
"""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from typing import Iterable, Sequence

from twin.cases.figures import KpiCounts
from twin.cases.reports import Report, ReportView
from twin.cases.workflow import Case, CaseQuery
from twin.devices.device import Device, DeviceStatus
from twin.devices.health import DeviceVitals, Vitals
from twin.devices.mqttaccounts import AccountKind, MqttAccount
from twin.people.audit import AuditEntry, AuditRecord
from twin.people.users import BearerToken, User
from twin.sensing.anomalies import Anomaly
from twin.sensing.cellstate import CellState
from twin.sensing.readings import Bucket, CameraEvent, DeadLetter, Reading


class TwinStore(abc.ABC):
    """One interface, two backends. Every write is idempotent on its natural key."""

    url: str
    # A store in a file of this process's own (SQLite): a lookup by key takes microseconds and can be
    # made on the caller's thread, where a hop to a worker thread costs milliseconds under load.
    local: bool = False

    # -- lifetime -----------------------------------------------------------
    @abc.abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the names applied (empty when up to date)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def write_transaction(self, operation: str) -> AbstractContextManager:
        """A write transaction: a context manager yielding a DB-API cursor, committed when the block
        ends and rolled back when it raises; `operation` names it in errors. The SQL is the backend's
        own (parameter marker, time columns): this is for the store's maintenance (retention) and
        for tools beside it (benchmarks); everything else goes through the methods of this class."""

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
    def get_devices(self, device_ids: Iterable[str]) -> list[Device]:
        """The registered devices among `device_ids`, in id order; unknown ids are left out."""

    @abc.abstractmethod
    def list_devices(self, cell_code: str | None = None, status: DeviceStatus | None = None) -> list[Device]: ...

    def set_device_status(self, device_id: str, status: DeviceStatus, ts: float) -> None:
        """Record a status change (online/offline/...) and, for online, the last-seen time
        (never moved backwards). An unregistered device is logged and ignored."""
        self.set_device_statuses([(device_id, status, ts)])

    @abc.abstractmethod
    def set_device_statuses(self, statuses: Iterable[tuple[str, DeviceStatus, float]]) -> None:
        """set_device_status for each (device id, status, time), in order, in one transaction."""

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

    # -- cases ----------------------------------------------------------------
    # Implemented once for both backends in twin/store/_cases.py.
    @abc.abstractmethod
    def save_case(self, case: Case, entries: Sequence[AuditEntry], *,
                  anomalies: Sequence[tuple[str, float]] = ()) -> tuple[Case, list[AuditRecord]]:
        """Store a case with the audit entries of its change, and link (anomaly id, ts) pairs to it;
        one transaction. A case without an id is new: the store numbers it `C-YYYYMMDD-NNNN` by the
        UTC day of `created_at` and fills the id into the entries. A stored case is replaced only if
        its stored version is `case.version` (else StaleCase); the returned case has the new version.
        An anomaly already linked to a case stays with that case."""

    @abc.abstractmethod
    def get_case(self, case_id: str) -> Case | None: ...

    @abc.abstractmethod
    def find_cases(self, query: CaseQuery) -> tuple[list[Case], int]:
        """One page of the cases matching `query`, newest first, and how many match in all."""

    @abc.abstractmethod
    def open_case_to_merge(self, cell_code: str, type_: str, since: float) -> Case | None:
        """The newest open case of this type in this cell whose latest anomaly (or report) is at or
        after `since`, or None."""

    @abc.abstractmethod
    def case_anomaly_ids(self, case_id: str) -> list[str]:
        """Ids of the anomalies that make up a case, oldest first."""

    @abc.abstractmethod
    def cases_of_anomalies(self, anomaly_ids: Sequence[str]) -> dict[str, str]:
        """Anomaly id -> case id, for those of `anomaly_ids` linked to a case."""

    @abc.abstractmethod
    def next_escalation(self) -> float | None:
        """The earliest `escalate_at` of any case, or None when no case will escalate."""

    @abc.abstractmethod
    def cases_to_escalate(self, now: float, limit: int = 100) -> list[Case]:
        """Cases whose `escalate_at` is before `now`, earliest first (at the deadline itself a case is
        still on time)."""

    # -- the audit log --------------------------------------------------------
    @abc.abstractmethod
    def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Append entries that change no case (logins, ...) to the hash-chained log."""

    @abc.abstractmethod
    def audit_log(self, *, subject: str | None = None, subject_id: str | None = None, after_seq: int = 0,
                  actor: str | None = None, action: str | None = None, start: float | None = None,
                  end: float | None = None, limit: int = 1000) -> list[AuditRecord]:
        """Rows with `seq > after_seq` matching every given filter (`start <= at < end`), in `seq` order."""

    @abc.abstractmethod
    def last_audit_seq(self) -> int:
        """The `seq` of the last row of the audit log (0 when it is empty)."""

    @abc.abstractmethod
    def audit_cursor(self, name: str) -> int | None:
        """How far the reader `name` (a case relay) got in the audit log; None for a new reader."""

    @abc.abstractmethod
    def set_audit_cursor(self, name: str, seq: int) -> None: ...

    # -- people ---------------------------------------------------------------
    @abc.abstractmethod
    def put_user(self, user: User, entry: AuditEntry) -> AuditRecord:
        """Insert or replace a user by name, recording `entry` in the audit log."""

    @abc.abstractmethod
    def get_user(self, name: str) -> User | None: ...

    @abc.abstractmethod
    def list_users(self) -> list[User]: ...

    @abc.abstractmethod
    def add_credential(self, credential: BearerToken, entry: AuditEntry | None = None) -> None:
        """Store a bearer token or session by its digest (and the audit entry of its creation).
        Adding a session also removes the sessions that have ended."""

    @abc.abstractmethod
    def credential_user(self, digest: str, kind: str, now: float) -> User | None:
        """The enabled user holding the unexpired credential with this digest and kind, or None."""

    @abc.abstractmethod
    def delete_credential(self, digest: str, entry: AuditEntry | None = None) -> bool:
        """Remove a credential (logout, revocation); False when there was none."""

    @abc.abstractmethod
    def list_credentials(self, user_name: str | None = None) -> list[BearerToken]: ...

    # -- governance figures ---------------------------------------------------
    @abc.abstractmethod
    def kpi_counts(self, group: str, start: float, end: float, now: float) -> list[KpiCounts]:
        """Counts and sums over the cases created in `start <= created_at < end`, per cell
        (`group` "grid"), street ("street") or district ("district"); see twin/cases/figures.py."""

    # -- MQTT accounts, device vitals, field reports -------------------------------
    # Implemented once for both backends in twin/store/_field.py.
    @abc.abstractmethod
    def put_mqtt_account(self, account: MqttAccount) -> None:
        """Insert or replace an MQTT account by user name."""

    @abc.abstractmethod
    def get_mqtt_account(self, username: str) -> MqttAccount | None:
        """The account with this user name, revoked or not."""

    @abc.abstractmethod
    def list_mqtt_accounts(self, *, subject: str | None = None, kind: AccountKind | None = None,
                           include_revoked: bool = False) -> list[MqttAccount]:
        """Accounts by user name, of one subject and kind when given; revoked ones only on request."""

    @abc.abstractmethod
    def revoke_mqtt_accounts(self, subject: str, now: float, kinds: Iterable[AccountKind] = ()) -> list[str]:
        """Revoke the active accounts of a device or reporter (of `kinds`, when given); their user names."""

    @abc.abstractmethod
    def redeem_claim(self, claim_username: str, account: MqttAccount, now: float) -> bool:
        """In one transaction: revoke the claim account if it is active and unexpired, and store `account`.
        False (and nothing stored) when the claim was used, revoked, expired or never issued."""

    @abc.abstractmethod
    def mark_mqtt_accounts_applied(self, usernames: Sequence[str], now: float) -> None:
        """Record that a password file holding these accounts was written at `now`."""

    @abc.abstractmethod
    def record_vitals(self, vitals: Iterable[Vitals]) -> None:
        """Add messages to devices' counts (in all, and per UTC hour) and keep the newest battery, signal
        and clock skew; a value the newest message did not report keeps the one before."""

    @abc.abstractmethod
    def device_vitals(self, device_id: str, now: float) -> DeviceVitals | None:
        """A device's vitals, with the messages of the hour before `now`; None if it never sent one."""

    @abc.abstractmethod
    def dead_letter_stats(self, device_id: str) -> dict[str, tuple[int, float]]:
        """Reason -> (number of dead letters, the last one's receive time) of one device."""

    @abc.abstractmethod
    def put_report(self, report: Report) -> bool:
        """Store a new field report; False when its id, or its reporter and `client_ref`, are stored."""

    @abc.abstractmethod
    def set_report_case(self, report_id: str, case_id: str) -> None: ...

    @abc.abstractmethod
    def get_report(self, report_id: str) -> ReportView | None: ...

    @abc.abstractmethod
    def find_report(self, reporter_id: str, client_ref: str) -> Report | None:
        """The report a reporter sent under its own id `client_ref`, if stored."""

    @abc.abstractmethod
    def list_reports(self, *, reporter_id: str | None = None, case_id: str | None = None,
                     limit: int = 100) -> list[ReportView]:
        """Reports newest first, with their case's status and the points they earned."""

    @abc.abstractmethod
    def settle_reports(self, now: float, points: int) -> int:
        """Credit `points` in the ledger to every report whose case was filed and not cancelled as a
        false alarm, once per report; how many were credited now."""

    @abc.abstractmethod
    def leaderboard(self, district: str | None = None, limit: int = 50) -> list[tuple[str, int, int]]:
        """(reporter id, points, confirmed reports) of the ledger, of one district when given, best first."""
