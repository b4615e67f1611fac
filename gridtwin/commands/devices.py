"""`gridtwin devices add|import|list|credentials|revoke|claim-code`: register sensors and cameras on the
grid, see them, and give them their MQTT credentials.

    gridtwin devices credentials aq-0012 --out bundles/     # password shown once; JSON + QR code PNG
    gridtwin devices credentials aq-0012 --rotate           # a new password replaces the old one
    gridtwin devices claim-code aq-0013                     # zero-touch: the device claims its own
    gridtwin devices revoke aq-0012

New, rotated and revoked passwords reach the broker with `gridtwin broker config` (and a reload).
"""

from __future__ import annotations

import sys

from gridtwin.cli import add_config_argument
from twin.config import load_settings
from twin.devices.device import Device, DeviceKind, DeviceStatus

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

    c = actions.add_parser("credentials", help="issue (or rotate) a device's MQTT password and its configuration "
                           "bundle", description="Prints the device's configuration bundle (broker, login, topics) "
                           "with its new password, shown this once; with --out, also writes ID.json and ID.png "
                           "(a QR code of the bundle). Run `gridtwin broker config` afterwards.")
    c.add_argument("id", metavar="ID")
    c.add_argument("--rotate", action="store_true", help="replace credentials the device already has")
    c.add_argument("--out", metavar="DIR", help="write the bundle as DIR/ID.json and DIR/ID.png")
    c.add_argument("--json", action="store_true", help="print the bundle as one JSON object")
    _add_store_arguments(c)
    c.set_defaults(func=run_credentials)

    r = actions.add_parser("revoke", help="revoke a device's MQTT credentials and unused claim code")
    r.add_argument("id", metavar="ID")
    _add_store_arguments(r)
    r.set_defaults(func=run_revoke)

    k = actions.add_parser("claim-code", help="issue a one-time claim code (zero-touch provisioning)",
                           description="The device logs in as claim-ID with the code as password, publishes "
                           '{"claim_code": CODE} on {prefix}/claim/ID and receives its bundle once on '
                           "{prefix}/claim/ID/reply. Run `gridtwin broker config` afterwards.")
    k.add_argument("id", metavar="ID")
    k.add_argument("--hours", type=float, help="how long the code stays valid (default provisioning.claim_code_hours)")
    k.add_argument("--json", action="store_true")
    _add_store_arguments(k)
    k.set_defaults(func=run_claim_code)


def _where(device: Device, grid) -> str:
    cell = grid.get(device.cell_code)
    if cell is not None:
        return f"in cell {cell.code} ({cell.path})"
    if device.mobile:
        return "mobile, located with every reading"
    return "in no cell"


def run_add(args, console) -> int:
    from twin.devices.registry import register_devices
    from twin.store import open_twin

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

    from twin.devices.registry import RowError, read_devices_csv, register_devices
    from twin.store import open_twin

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
    from twin.store import open_twin

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


def run_credentials(args, console) -> int:
    import json
    import time
    from pathlib import Path

    from twin.devices.provisioning import bundle_qr_png, device_bundle, issue_device_credentials
    from twin.store import open_twin

    settings = load_settings(args.config)
    now = time.time()
    store, _grid = open_twin(settings, args.store)
    with store:
        _account, password = issue_device_credentials(store, args.id, now=now, rotate=args.rotate)
        bundle = device_bundle(settings, store.get_device(args.id), password, now=now)
    text = json.dumps(bundle, indent=2, ensure_ascii=False)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{args.id}.json").write_text(text + "\n", encoding="utf-8")
        (out / f"{args.id}.json").chmod(0o600)
        (out / f"{args.id}.png").write_bytes(bundle_qr_png(bundle))
        (out / f"{args.id}.png").chmod(0o600)
        console.print(f"wrote {out / (args.id + '.json')} and {out / (args.id + '.png')} (they hold the password)")
    console.result(bundle, text + "\nthe password is shown this once; run `gridtwin broker config` so that "
                   "the broker knows it")
    return 0


def run_revoke(args, console) -> int:
    import time

    from twin.devices.provisioning import revoke_device_credentials
    from twin.store import open_twin

    settings = load_settings(args.config)
    store, _grid = open_twin(settings, args.store)
    with store:
        revoked = revoke_device_credentials(store, args.id, now=time.time())
    if not revoked:
        console.print(f"device {args.id} had no active MQTT credentials")
        return 0
    console.print(f"revoked {', '.join(revoked)}; run `gridtwin broker config` (and reload Mosquitto) so that the "
                  "broker refuses them")
    return 0


def run_claim_code(args, console) -> int:
    import time

    from twin.devices.provisioning import issue_claim_code
    from twin.store import open_twin

    settings = load_settings(args.config)
    hours = args.hours or settings.provisioning.claim_code_hours
    store, _grid = open_twin(settings, args.store)
    with store:
        code = issue_claim_code(store, args.id, now=time.time(), hours=hours)
    console.result({"device_id": args.id, "username": f"claim-{args.id}", "claim_code": code, "hours": hours},
                   f"claim code of {args.id} (user name claim-{args.id}, valid {hours:g} h, shown this once):\n{code}")
    return 0
