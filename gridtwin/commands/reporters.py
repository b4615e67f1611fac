"""`gridtwin reporters credentials|leaderboard`: mobile reporters' MQTT logins and their points.

    gridtwin users add rider-7 --role reporter              # first, the person (see `gridtwin users`)
    gridtwin reporters credentials rider-7                  # may publish on {prefix}/reports/rider-7
    gridtwin reporters leaderboard --district 410204 --json
"""

from __future__ import annotations

import time

from gridtwin.cli import add_config_argument
from twin.config import load_settings


def register(sub) -> None:
    p = sub.add_parser("reporters", help="mobile reporters: MQTT credentials and the points leaderboard")
    actions = p.add_subparsers(dest="reporters_action", required=True, metavar="ACTION")
    c = actions.add_parser("credentials", help="issue (or rotate) a reporter's MQTT password (shown once)")
    c.add_argument("name", help="a user with the reporter or grid_worker role")
    c.add_argument("--rotate", action="store_true")
    _common(c)
    c.set_defaults(func=run_credentials)
    lb = actions.add_parser("leaderboard", help="points of confirmed reports, best first")
    lb.add_argument("--district", metavar="CODE", help="6-digit district code")
    lb.add_argument("--limit", type=int, default=20)
    _common(lb)
    lb.set_defaults(func=run_leaderboard)


def _common(p) -> None:
    p.add_argument("--store", metavar="URL", help="store URL (overrides store.url)")
    p.add_argument("--json", action="store_true")
    add_config_argument(p)


def run_credentials(args, console) -> int:
    from twin.devices.provisioning import issue_reporter_credentials
    from twin.store import open_twin

    settings = load_settings(args.config)
    store, _grid = open_twin(settings, args.store)
    with store:
        _account, password = issue_reporter_credentials(store, args.name, now=time.time(), rotate=args.rotate)
    topic = f"{settings.mqtt.prefix}/reports/{args.name}"
    console.result({"username": args.name, "password": password, "topic": topic, "ack_topic": f"{topic}/ack"},
                   f"MQTT login of {args.name}: password {password} (shown this once)\npublishes on {topic}; "
                   "run `gridtwin broker config` so that the broker knows it")
    return 0


def run_leaderboard(args, console) -> int:
    from twin.cases.reports import settle
    from twin.store import open_twin

    settings = load_settings(args.config)
    store, _grid = open_twin(settings, args.store)
    with store:
        settle(store, time.time())
        rows = store.leaderboard(args.district, args.limit)
    entries = [{"rank": n, "reporter": r, "points": p, "confirmed_reports": c} for n, (r, p, c) in enumerate(rows, 1)]
    lines = ["RANK  POINTS  REPORTS  REPORTER"] + [f"{e['rank']:>4}  {e['points']:>6}  {e['confirmed_reports']:>7}  "
                                                 f"{e['reporter']}" for e in entries]
    console.result({"district": args.district, "entries": entries}, "\n".join(lines))
    return 0
