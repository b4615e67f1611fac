"""`gridtwin broker config`: Mosquitto's password file and ACL, written from the store.

    gridtwin broker config --out /etc/mosquitto/gridtwin                   # passwords + acl
    gridtwin broker config --out /etc/mosquitto/gridtwin --reload /run/mosquitto/mosquitto.pid

The first run creates the gateway's and the web app's accounts and writes their passwords,
once, to DIR/service-accounts.toml (0600), in the [mqtt] and [web] keys they go under.
"""

from __future__ import annotations

import time
from pathlib import Path

from gridtwin.cli import add_config_argument
from twin.config import load_settings


def register(sub) -> None:
    p = sub.add_parser("broker", help="write Mosquitto's password file and ACL from the store")
    actions = p.add_subparsers(dest="broker_action", required=True, metavar="ACTION")
    c = actions.add_parser(
        "config", help="write DIR/passwords and DIR/acl (and the service accounts when new)",
        description="Writes the password file (Mosquitto's PBKDF2-SHA512 hashes) and the ACL of every active "
        "MQTT account: devices, claim codes, reporters, the gateway and the web app. Point Mosquitto's "
        "password_file and acl_file at them (and set allow_anonymous false); reload it after each run.")
    c.add_argument("--out", metavar="DIR", required=True)
    c.add_argument("--reload", metavar="PIDFILE", help="send SIGHUP to the Mosquitto whose pid is in PIDFILE")
    c.add_argument("--rotate-service", action="append", default=[], choices=["gateway", "web"],
                   help="give the gateway's or web app's account a new password")
    c.add_argument("--store", metavar="URL", help="store URL (overrides store.url)")
    c.add_argument("--json", action="store_true")
    add_config_argument(c)
    c.set_defaults(func=run_config)


def _service_toml(made: dict[str, tuple[str, str]]) -> str:
    lines = ["# MQTT logins of the GridTwin services: put them in gridtwin.toml (or GRIDTWIN_* variables)."]
    if "gateway" in made:
        user, password = made["gateway"]
        lines += ["[mqtt]  # the gateway", f'username = "{user}"', f'password = "{password}"']
    if "web" in made:
        user, password = made["web"]
        lines += ["[web]  # the web app", f'mqtt_username = "{user}"', f'mqtt_password = "{password}"']
    return "\n".join(lines) + "\n"


def run_config(args, console) -> int:
    from twin.brokerfiles import reload_broker, write_broker_files
    from twin.provisioning import ensure_service_accounts
    from twin.registry import open_twin

    settings = load_settings(args.config)
    now = time.time()
    out = Path(args.out)
    store, _grid = open_twin(settings, args.store)
    with store:
        made = ensure_service_accounts(store, settings, now=now, rotate=tuple(args.rotate_service))
        files = write_broker_files(store, settings.mqtt.prefix, out, now=now)
    services = None
    if made:
        services = out / "service-accounts.toml"
        services.write_text(_service_toml(made), encoding="utf-8")
        services.chmod(0o600)
    pid = reload_broker(args.reload) if args.reload else None
    text = f"wrote {files.password_file} and {files.acl_file}: {files.accounts} MQTT account(s)"
    if services:
        text += f"\nnew service passwords ({', '.join(sorted(made))}) in {services}: shown nowhere else"
    text += f"\nreloaded mosquitto (pid {pid})" if pid else "\nreload Mosquitto (SIGHUP) for them to take effect"
    console.result({"password_file": str(files.password_file), "acl_file": str(files.acl_file),
                    "accounts": files.accounts, "service_accounts_file": str(services) if services else None,
                    "reloaded_pid": pid}, text)
    return 0
