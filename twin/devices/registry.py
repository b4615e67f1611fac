"""The devices registered in the twin and placed on its grid.

`register_devices` validates devices, resolves the cells of fixed ones with one
vectorized lookup and writes the good ones, reporting every refusal;
`read_devices_csv` reads a technician's device list.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from twin.devices.device import Device, DeviceKind, DeviceStatus, check_device_id
from twin.errors import DeviceError, OutsideGrid, TwinError
from twin.grid.cells import Grid
from twin.sensing.catalog import MetricCatalog

if TYPE_CHECKING:
    from twin.store.base import TwinStore

log = logging.getLogger(__name__)

__all__ = [
    "register_devices",
    "relocate_devices",
    "read_devices_csv",
    "RegistrationReport",
    "Refusal",
    "RowError",
    "CSV_COLUMNS",
]

CSV_COLUMNS = ("id", "kind", "model", "metrics", "lat", "lon", "mobile", "name")
REQUIRED_CSV_COLUMNS = ("id", "kind")
TRUE_WORDS = frozenset({"1", "true", "yes", "y"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "n"})


# -- registration --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Refusal:
    """A device that was not registered, and why."""

    device_id: str
    reason: str
    error: TwinError = field(compare=False)


@dataclass
class RegistrationReport:
    """Outcome of `register_devices`: the devices written (with their cells) and those refused."""

    accepted: list[Device] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # ids that were registered before
    placed: list[str] = field(default_factory=list)  # ids of pending devices that now have a cell

    @property
    def ok(self) -> bool:
        return not self.refused

    def raise_for_refused(self) -> None:
        """Raise the first refusal's error (DeviceError, OutsideGrid) if any device was refused."""
        if self.refused:
            raise self.refused[0].error

    def to_json(self) -> dict:
        return {
            "accepted": [{"id": d.id, "cell_code": d.cell_code} for d in self.accepted],
            "refused": [{"id": r.device_id, "reason": r.reason} for r in self.refused],
            "replaced": list(self.replaced),
        }


def _location_problem(device_id: str, lat, lon, mobile: bool) -> str | None:
    if lat is None and lon is None:
        if mobile:
            return None
        return f"device {device_id} is fixed and has no location: give its lat and lon, or register it as mobile"
    if lat is None or lon is None:
        return f"device {device_id}: give both lat and lon, or neither"
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return f"device {device_id}: lat and lon must be finite numbers"
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return f"device {device_id}: lat {lat} / lon {lon} is not a WGS84 position (lat within ±90, lon within ±180)"
    return None


def _metrics_problem(device_id: str, metrics: Iterable[str], catalog: MetricCatalog | None) -> str | None:
    if catalog is None:
        return None
    unknown = [m for m in metrics if m not in catalog]
    if unknown:
        return (
            f"device {device_id}: unknown metric(s) {', '.join(unknown)}; "
            f"the catalog has {', '.join(sorted(catalog.names()))}"
        )
    return None


def _check(device: Device, catalog: MetricCatalog | None) -> Device:
    """The device with its kind normalized, or DeviceError naming what is wrong."""
    check_device_id(device.id)
    try:
        kind = DeviceKind(device.kind)
    except ValueError:
        raise DeviceError(f"device {device.id}: kind {device.kind!r} must be 'sensor' or 'camera'") from None
    try:
        lat = None if device.lat is None else float(device.lat)
        lon = None if device.lon is None else float(device.lon)
    except (TypeError, ValueError):
        raise DeviceError(f"device {device.id}: lat {device.lat!r} / lon {device.lon!r} must be numbers") from None
    problem = _location_problem(device.id, lat, lon, device.mobile) or _metrics_problem(device.id, device.metrics, catalog)
    if problem:
        raise DeviceError(problem)
    return dataclasses.replace(device, kind=kind, lat=lat, lon=lon, metrics=tuple(device.metrics))


def register_devices(
    store: TwinStore,
    grid: Grid,
    devices: Iterable[Device],
    *,
    now: float | None = None,
    catalog: MetricCatalog | None = None,
) -> RegistrationReport:
    """Validate devices, resolve their cells and write the good ones to `store`.

    Fixed devices must lie in a cell (else refused with OutsideGrid); mobile
    devices may have no location, and keep cell None when they have one
    outside the grid. With `catalog`, metric names must be in it. A device
    already registered is replaced but keeps its registration time, status
    and last-seen time; a pending one (first seen through an adapter) that is
    placed in a cell becomes registered, and the readings it sent while
    pending are counted to that cell. Refused devices never stop the others.
    """
    now = time.time() if now is None else now
    report = RegistrationReport()
    checked: list[Device] = []
    seen: set[str] = set()
    for device in devices:
        try:
            device = _check(device, catalog)
            if device.id in seen:
                raise DeviceError(f"device {device.id} appears twice in this batch; the first one is kept")
        except DeviceError as exc:
            report.refused.append(Refusal(str(device.id), str(exc), exc))
            continue
        seen.add(device.id)
        checked.append(device)

    placed = [d for d in checked if d.lat is not None]
    lon = np.fromiter((d.lon for d in placed), float, len(placed))
    lat = np.fromiter((d.lat for d in placed), float, len(placed))
    cell_of = dict(zip((d.id for d in placed), grid.locate(lon, lat).tolist()))

    existing = _existing(store, [d.id for d in checked])
    for device in checked:
        code = cell_of.get(device.id)
        if code is None and not device.mobile:
            error = OutsideGrid(device.id, device.lat, device.lon)
            report.refused.append(Refusal(device.id, str(error), error))
            continue
        before = existing.get(device.id)
        if before is not None:
            report.replaced.append(device.id)
            status, attributes = before.status, device.attributes
            if status == DeviceStatus.PENDING and (code is not None or device.mobile):
                # Placed by a technician; keep what the adapter said about its source.
                status, attributes = DeviceStatus.REGISTERED, {**before.attributes, **device.attributes}
                if code is not None:
                    report.placed.append(device.id)
            device = dataclasses.replace(
                device, registered_at=before.registered_at, status=status, last_seen=before.last_seen,
                attributes=attributes,
            )
        else:
            device = dataclasses.replace(device, registered_at=now)
        report.accepted.append(dataclasses.replace(device, cell_code=code))
    if report.accepted:
        store.put_devices(report.accepted)
    cells = {d.id: d.cell_code for d in report.accepted}
    for device_id in report.placed:
        moved = store.assign_cell(device_id, cells[device_id])
        log.info("pending device %s placed in cell %s: %d readings it sent before counted there",
                 device_id, cells[device_id], moved)
    for refusal in report.refused:
        log.warning("device %s refused: %s", refusal.device_id, refusal.reason)
    return report


def _existing(store: TwinStore, ids: list[str]) -> dict[str, Device]:
    return {d.id: d for d in store.get_devices(ids)}


def relocate_devices(store: TwinStore, grid: Grid) -> tuple[int, list[str]]:
    """Re-resolve the cells of every registered device with a location against `grid`
    (after a new grid was stored). Returns (devices whose cell changed, ids of fixed
    devices now outside every cell, whose cell becomes None)."""
    devices = [d for d in store.list_devices() if d.lat is not None and d.lon is not None]
    lon = np.fromiter((d.lon for d in devices), float, len(devices))
    lat = np.fromiter((d.lat for d in devices), float, len(devices))
    codes = grid.locate(lon, lat).tolist()
    changed = [dataclasses.replace(d, cell_code=c) for d, c in zip(devices, codes) if d.cell_code != c]
    if changed:
        store.put_devices(changed)
    outside = [d.id for d, c in zip(devices, codes) if c is None and not d.mobile]
    return len(changed), outside


# -- CSV ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RowError:
    """A bad row of a device file: its line number (1 is the header), the device id when known, why."""

    line: int
    device_id: str | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def _parse_number(text: str, label: str, problems: list[str]) -> float | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{label} {text!r} is not a number")
        return None
    return value


def _parse_row(row: dict[str, str], extra: list[str], catalog: MetricCatalog) -> tuple[Device | None, list[str]]:
    get = lambda key: (row.get(key) or "").strip()  # noqa: E731
    problems: list[str] = []
    device_id = get("id")
    try:
        check_device_id(device_id)
    except DeviceError as exc:
        problems.append(str(exc))
    kind_text = get("kind").lower()
    if kind_text not in {k.value for k in DeviceKind}:
        problems.append(f"kind {get('kind')!r} must be 'sensor' or 'camera'")
    mobile_text = get("mobile").lower()
    if mobile_text not in TRUE_WORDS | FALSE_WORDS:
        problems.append(f"mobile {get('mobile')!r} must be true or false")
    mobile = mobile_text in TRUE_WORDS
    lat = _parse_number(get("lat"), "lat", problems)
    lon = _parse_number(get("lon"), "lon", problems)
    if not problems:
        problem = _location_problem(device_id, lat, lon, mobile)
        problems += [problem] if problem else []
    metrics = tuple(dict.fromkeys(m.strip() for m in get("metrics").split(";") if m.strip()))
    unknown = [m for m in metrics if m not in catalog]
    if unknown:
        problems.append(f"unknown metric(s) {', '.join(unknown)}; the catalog has {', '.join(sorted(catalog.names()))}")
    if problems:
        return None, problems
    device = Device(
        id=device_id,
        kind=DeviceKind(kind_text),
        lat=lat,
        lon=lon,
        model=get("model"),
        metrics=metrics,
        mobile=mobile,
        name=get("name"),
        attributes={k: row[k] for k in extra if row.get(k)},
    )
    return device, []


def read_devices_csv(
    path: str | Path,
    catalog: MetricCatalog | None = None,
    *,
    lines: dict[str, int] | None = None,
) -> tuple[list[Device], list[RowError]]:
    """Devices from a CSV file with a header of id,kind,model,metrics,lat,lon,mobile,name.

    `metrics` are separated by ';' and must be in `catalog` (default: the
    built-in catalog); `mobile` is true/false (default false); fixed devices
    need lat and lon. Every bad row is reported with its line number and
    reason; good rows are kept. Extra columns become device attributes. When
    `lines` is given it is filled with device id -> line number.

    Raises DeviceError only when the file cannot be read at all.
    """
    catalog = catalog or MetricCatalog.default()
    path = Path(path)
    devices: list[Device] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            if not header:
                return [], [RowError(1, None, f"the file is empty; expected a header: {','.join(CSV_COLUMNS)}")]
            reader.fieldnames = header
            missing = [c for c in REQUIRED_CSV_COLUMNS if c not in header]
            if missing:
                return [], [RowError(1, None, f"the header lacks {', '.join(missing)}; expected {','.join(CSV_COLUMNS)}")]
            extra = [h for h in header if h and h not in CSV_COLUMNS]
            for row in reader:
                line = reader.line_num
                if None in row:
                    errors.append(RowError(line, None, f"the row has {len(header) + len(row[None])} fields, the header {len(header)}"))
                    continue
                if not any((v or "").strip() for v in row.values()):
                    continue
                device, problems = _parse_row(row, extra, catalog)
                device_id = (row.get("id") or "").strip() or None
                if device is not None and device.id in first_line:
                    problems = [f"duplicate id {device.id} (first on line {first_line[device.id]})"]
                if problems:
                    errors.append(RowError(line, device_id, "; ".join(problems)))
                    continue
                first_line[device.id] = line
                devices.append(device)
    except FileNotFoundError:
        raise DeviceError(f"device file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise DeviceError(f"device file {path} is not UTF-8 text: {exc}") from exc
    except csv.Error as exc:
        raise DeviceError(f"device file {path} is not valid CSV: {exc}") from exc
    if lines is not None:
        lines.update(first_line)
    return devices, errors
