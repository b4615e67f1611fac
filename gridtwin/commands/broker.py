"""`gridtwin broker config`: Mosquitto's password file and ACL, written from the store.

    gridtwin broker config --out /etc/mosquitto/gridtwin                   # passwords + acl
    gridtwin broker config --out /etc/mosquitto/gridtwin --reload /run/mosquitto/mosquitto.pid
    gridtwin broker config --out DIR --tls-port 8883 --certfile server.crt --keyfile server.key  # + DIR/listener.conf

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
    t = c.add_argument_group("TLS listener", "with --tls-port, also write DIR/listener.conf: a Mosquitto listener "
                             "speaking MQTT over TLS (1.2 and later) with these files; include it from mosquitto.conf")
    t.add_argument("--tls-port", type=int, metavar="PORT", help="port of the TLS listener (usually 8883)")
    t.add_argument("--certfile", metavar="FILE", help="the broker's certificate (PEM; with its chain)")
    t.add_argument("--keyfile", metavar="FILE", help="the broker's private key (PEM)")
    t.add_argument("--cafile", metavar="FILE", help="CA of client certificates (needed with --require-certificate)")
    t.add_argument("--require-certificate", action="store_true",
                   help="clients must present a certificate signed by --cafile (mqtt.cert_file, mqtt.key_file)")
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


LISTENER_FILE = "listener.conf"


def _tls_listener(args) -> str | None:
    """DIR/listener.conf's text, checked before anything is written; None without --tls-port."""
    from mqttwire.mosquitto import TlsListener, listener_config
    from twin.errors import ConfigError

    tls_args = (args.certfile, args.keyfile, args.cafile, args.require_certificate)
    if args.tls_port is None:
        if any(tls_args):
            raise ConfigError("--certfile, --keyfile, --cafile and --require-certificate need --tls-port")
        return None
    if not (args.certfile and args.keyfile):
        raise ConfigError("--tls-port needs --certfile and --keyfile (the broker's certificate and key)")
    if not 0 < args.tls_port < 65536:
        raise ConfigError(f"--tls-port {args.tls_port} is not a port number")
    tls = TlsListener(args.certfile, args.keyfile, args.cafile, args.require_certificate)
    head = ["# GridTwin's MQTT over TLS listener, written by `gridtwin broker config`.",
            "# Include it from mosquitto.conf (include_dir, or copy it in) next to password_file and acl_file."]
    return "\n".join(head + listener_config(args.tls_port, tls=tls)) + "\n"


def run_config(args, console) -> int:
    from mqttwire.mosquitto import reload_broker, write_broker_files
    from twin.devices.provisioning import ensure_service_accounts
    from twin.store import open_twin

    settings = load_settings(args.config)
    now = time.time()
    out = Path(args.out)
    listener = _tls_listener(args)
    store, _grid = open_twin(settings, args.store)
    with store:
        made = ensure_service_accounts(store, settings, now=now, rotate=tuple(args.rotate_service))
        files = write_broker_files(store, settings.mqtt.prefix, out, now=now)
    services = None
    if made:
        services = out / "service-accounts.toml"
        services.write_text(_service_toml(made), encoding="utf-8")
        services.chmod(0o600)
    listener_path = None
    if listener is not None:
        listener_path = out / LISTENER_FILE
        listener_path.write_text(listener, encoding="utf-8")
    pid = reload_broker(args.reload) if args.reload else None
    text = f"wrote {files.password_file} and {files.acl_file}: {files.accounts} MQTT account(s)"
    if listener_path:
        text += f"\nwrote {listener_path}: the TLS listener on port {args.tls_port}; restart Mosquitto to open it"
    if services:
        text += f"\nnew service passwords ({', '.join(sorted(made))}) in {services}: shown nowhere else"
    text += f"\nreloaded mosquitto (pid {pid})" if pid else "\nreload Mosquitto (SIGHUP) for them to take effect"
    console.result({"password_file": str(files.password_file), "acl_file": str(files.acl_file),
                    "accounts": files.accounts, "service_accounts_file": str(services) if services else None,
                    "listener_file": str(listener_path) if listener_path else None, "reloaded_pid": pid}, text)
    return 0
