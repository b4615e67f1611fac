"""`gridtwin db`: store maintenance.

    gridtwin db migrate                          # apply pending schema migrations
    gridtwin db backup /backups/twin.db          # a consistent copy while the gateway writes
    gridtwin db restore /backups/twin.db         # into an empty store (--force replaces data)
    gridtwin db prune --dry-run                  # retention: what would be rolled up and removed
"""

from __future__ import annotations

import time

from gridtwin.cli import add_config_argument
from twin.config import load_settings

_STORE_HELP = "store URL (overrides store.url): sqlite:///path or postgresql://..."


def register(sub) -> None:
    p = sub.add_parser("db", help="store maintenance: migrate, backup, restore, prune")
    actions = p.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    m = actions.add_parser(
        "migrate",
        help="apply pending schema migrations",
        description="Apply the store's pending schema migrations in order and print their names, "
        "or 'up to date'. Safe to run while the gateway and web app use the store.",
    )
    m.add_argument("--store", metavar="URL", help=_STORE_HELP)
    add_config_argument(m)
    m.add_argument("--json", action="store_true", help="print {store, applied} as one JSON object")
    m.set_defaults(func=run_migrate)

    b = actions.add_parser(
        "backup", help="write a backup of the store to FILE",
        description="SQLite: a copy made with SQLite's online backup API, one consistent snapshot while the "
        "gateway writes. PostgreSQL: pg_dump's custom format (also one snapshot). FILE is replaced only "
        "once the backup is complete.")
    b.add_argument("file", metavar="FILE")
    b.add_argument("--store", metavar="URL", help=_STORE_HELP)
    add_config_argument(b)
    b.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    b.set_defaults(func=run_backup)

    r = actions.add_parser(
        "restore", help="restore a backup from FILE into the store",
        description="Restores a backup made by `gridtwin db backup` of a store of the same kind, then applies "
        "the migrations newer than the backup. Refuses a store that holds data unless --force. Stop the "
        "gateway and the web app first.")
    r.add_argument("file", metavar="FILE")
    r.add_argument("--force", action="store_true", help="replace the data of a store that is not empty")
    r.add_argument("--store", metavar="URL", help=_STORE_HELP)
    add_config_argument(r)
    r.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    r.set_defaults(func=run_restore)

    n = actions.add_parser(
        "prune", help="apply retention: roll up and remove old readings",
        description="Readings older than store.readings_days are added to hourly figures per cell and metric "
        "(kept store.hourly_days) and removed; on PostgreSQL whole day partitions are dropped. 0 days keeps "
        "everything. The gateway does the same every store.prune_interval_s.")
    n.add_argument("--readings-days", type=float, metavar="N", help="keep raw readings N days (overrides store.readings_days)")
    n.add_argument("--hourly-days", type=float, metavar="N", help="keep hourly figures N days (overrides store.hourly_days)")
    n.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    n.add_argument("--store", metavar="URL", help=_STORE_HELP)
    add_config_argument(n)
    n.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    n.set_defaults(func=run_prune)


def run_migrate(args, console) -> int:
    from twin.store import open_store, redact

    url = args.store or load_settings(args.config).store.url
    with open_store(url) as store:
        applied = store.migrate()
    for name in applied:
        console.print(f"applied {name}")
    if not applied:
        console.print(f"{redact(url)} is up to date")
    console.result({"store": redact(url), "applied": applied})
    return 0


def run_backup(args, console) -> int:
    from twin.store.backup import backup

    report = backup(args.store or load_settings(args.config).store.url, args.file)
    console.result(report.to_dict(), f"backed up {report.store} to {report.file}: {report.readings} readings, "
                                     f"{report.bytes / 1e6:.1f} MB in {report.seconds:.1f} s")
    return 0


def run_restore(args, console) -> int:
    from twin.store.backup import restore

    report = restore(args.store or load_settings(args.config).store.url, args.file, force=args.force)
    console.result(report.to_dict(), f"restored {report.file} into {report.store}: {report.readings} readings "
                                     f"in {report.seconds:.1f} s")
    return 0


def run_prune(args, console) -> int:
    from twin.store import open_store
    from twin.store.retention import prune

    settings = load_settings(args.config)
    url = args.store or settings.store.url
    readings_days = settings.store.readings_days if args.readings_days is None else args.readings_days
    hourly_days = settings.store.hourly_days if args.hourly_days is None else args.hourly_days
    with open_store(url) as store:
        report = prune(store, readings_days=readings_days, hourly_days=hourly_days, now=time.time(),
                       dry_run=args.dry_run)
    if report.readings_cutoff is None and report.hourly_cutoff is None:
        text = "retention is off (store.readings_days and store.hourly_days are 0): nothing to do"
    else:
        verb = "would remove" if args.dry_run else "removed"
        text = (f"{verb} {report.readings_removed} readings"
                + (f" ({len(report.partitions_dropped)} whole day partitions)" if report.partitions_dropped else "")
                + f", rolled up into {report.hourly_written} hourly rows; {verb} {report.hourly_removed} hourly rows")
    console.result(report.to_dict(), text)
    return 0
