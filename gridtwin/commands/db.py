"""`gridtwin db migrate`: bring the store's schema up to date."""

from __future__ import annotations

from gridtwin.cli import add_config_argument
from twin.config import load_settings


def register(sub) -> None:
    p = sub.add_parser("db", help="store maintenance")
    actions = p.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    m = actions.add_parser(
        "migrate",
        help="apply pending schema migrations",
        description="Apply the store's pending schema migrations in order and print their names, "
        "or 'up to date'. Safe to run while the gateway and web app use the store.",
    )
    m.add_argument("--store", metavar="URL", help="store URL (overrides store.url): sqlite:///path or postgresql://...")
    add_config_argument(m)
    m.add_argument("--json", action="store_true", help="print {store, applied} as one JSON object")
    m.set_defaults(func=run_migrate)


def run_migrate(args, console) -> int:
    from twin.store import open_store
    from twin.store._codec import redact

    url = args.store or load_settings(args.config).store.url
    with open_store(url) as store:
        applied = store.migrate()
    for name in applied:
        console.print(f"applied {name}")
    if not applied:
        console.print(f"{redact(url)} is up to date")
    console.result({"store": redact(url), "applied": applied})
    return 0
