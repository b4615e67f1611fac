"""`gridtwin devices add|import|list`: register sensors and cameras on the grid and see them."""

from __future__ import annotations

import sys

from gridtwin.cli import add_config_argument
from twin.config import load_settings
from twin.devices import Device, DeviceKind, DeviceStatus

IMPORT_CHUNK = 500  # devices per registration call; the progress bar advances per chunk


def _add_store_arguments(p) -> None:
    p.add_argument("--store", metavar="URL", help="store URL (overrides store.url): sqlite:///path or postgresql://...")
    add_config_argument(p)


def register(sub) -> None:
    p = sub.add_parser("devices", help="register, import and list devices")
    actions = p.add_subparsers(dest="devices_action", required=True, metavar="ACTION")

    a = actions.add_parser("add", help="register one device (or update it)")
    a.add_argument("id", metavar="ID", help="device id: letters, digits, '_', '.', ':' or '-'")
    a.add_argument("--kind", required=True, choices=[k.value for k in DeviceKind])
    a.add_argument("--lat", type=float, help="WGS84 latitude (fixed devices)")
    a.add_argument("--lon", type=float, help="WGS84 longitude (fixed devices)")
    a.add_argument("--model", default="")
    a.add_argument("--metrics", default="", metavar="M1,M2", help="metrics it reports, e.g. pm25,noise_db")
    a.add_argument("--mobile", action="store_true", help="it moves and reports its location with every reading")
    a.add_argument("--name", default="")
    _add_store_arguments(a)
    a.set_defaults(func=run_add)

    i = actions.add_parser(
        "import",
        help="register devices from a CSV file",
        description="CSV columns: id,kind,model,metrics,lat,lon,mobile,name; metrics separated by ';'. "
        "Good rows are registered, every bad row is reported with its line number.",
    )
    i.add_argument("file", metavar="FILE.csv")
    _add_store_arguments(i)
    i.set_defaults(func=run_import)

    ls = actions.add_parser("list", help="list registered devices")
    ls.add_argument("--cell", metavar="CODE", help="only devices in this cell")
    ls.add_argument("--status", choices=[s.value for s in DeviceStatus])
    ls.add_argument("--json", action="store_true", help="print one JSON object with the devices")
    _add_store_arguments(ls)
    ls.set_defaults(func=run_list)


def _where(device: Device, grid) -> str:
    cell = grid.get(device.cell_code)
    if cell is not None:
        return f"in cell {cell.code} ({cell.path})"
    if device.mobile:
        return "mobile, located with every reading"
    return "in no cell"


def run_add(args, console) -> int:
    from twin.registry import open_twin, register_devices

    settings = load_settings(args.config)
    device = Device(
        id=args.id,
        kind=DeviceKind(args.kind),
        lat=args.lat,
        lon=args.lon,
        model=args.model,
        metrics=tuple(m.strip() for m in args.metrics.split(",") if m.strip()),
        mobile=args.mobile,
        name=args.name,
    )
    store, grid = open_twin(settings, args.store)
    with store:
        report = register_devices(store, grid, [device], catalog=settings.metrics)
    if report.refused:
        console.error(report.refused[0].reason)
        return 1
    added = report.accepted[0]
    verb = "updated" if report.replaced else "registered"
    console.print(f"{verb} {added.kind.value} {added.id} {_where(added, grid)}")
    return 0


def run_import(args, console) -> int:
    from tqdm import tqdm

    from twin.registry import RowError, open_twin, read_devices_csv, register_devices

    settings = load_settings(args.config)
    lines: dict[str, int] = {}
    devices, errors = read_devices_csv(args.file, settings.metrics, lines=lines)
    accepted = replaced = 0
    store, grid = open_twin(settings, args.store)
    with store, tqdm(total=len(devices), file=sys.stderr, unit="device", desc="registering") as bar:
        for start in range(0, len(devices), IMPORT_CHUNK):
            chunk = devices[start:start + IMPORT_CHUNK]
            report = register_devices(store, grid, chunk, catalog=settings.metrics)
            accepted += len(report.accepted)
            replaced += len(report.replaced)
            errors += [RowError(lines.get(r.device_id, 0), r.device_id, r.reason) for r in report.refused]
            bar.update(len(chunk))
    for error in sorted(errors, key=lambda e: e.line):
        console.error(f"{args.file} {error}")
    rows = accepted + len(errors)
    text = f"registered {accepted} of {rows} device row(s) from {args.file}"
    if replaced:
        text += f" ({replaced} updated)"
    if errors:
        text += f"; {len(errors)} row(s) failed"
    console.print(text)
    return 1 if errors else 0


def _device_json(d: Device) -> dict:
    return {
        "id": d.id,
        "kind": d.kind.value,
        "status": d.status.value,
        "cell_code": d.cell_code,
        "lat": d.lat,
        "lon": d.lon,
        "mobile": d.mobile,
        "model": d.model,
        "metrics": list(d.metrics),
        "name": d.name,
        "registered_at": d.registered_at,
        "last_seen": d.last_seen,
    }


def run_list(args, console) -> int:
    from twin.registry import open_twin

    settings = load_settings(args.config)
    store, _grid = open_twin(settings, args.store)
    with store:
        devices = store.list_devices(args.cell, DeviceStatus(args.status) if args.status else None)
    devices = sorted(devices, key=lambda d: d.id)
    rows = [("ID", "KIND", "STATUS", "CELL", "LAT", "LON", "METRICS", "NAME")]
    for d in devices:
        cell = d.cell_code or ("mobile" if d.mobile else "-")
        lat = "-" if d.lat is None else f"{d.lat:.6f}"
        lon = "-" if d.lon is None else f"{d.lon:.6f}"
        rows.append((d.id, d.kind.value, d.status.value, cell, lat, lon, ",".join(d.metrics) or "-", d.name))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    table = "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1] for r in rows)
    console.result(
        {"count": len(devices), "devices": [_device_json(d) for d in devices]},
        table + f"\n{len(devices)} device(s)",
    )
    return 0
