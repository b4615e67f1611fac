"""`gridtwin serve`: the web map and HTTP API on their own (uvicorn)."""

from __future__ import annotations

from gridtwin.cli import add_config_argument
from gridtwin.ports import free_port
from twin.config import load_settings
from twin.store import redact


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the web map and HTTP API")
    add_config_argument(p)
    p.add_argument("--host", help="address to listen on (overrides web.host, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (overrides web.port, default 8080; 0 picks a free one)")
    p.add_argument("--store", metavar="URL", help="store URL (overrides store.url)")
    p.set_defaults(func=run)


def run(args, console) -> int:
    from maps.app import WebServer, create_app

    settings = load_settings(args.config)
    if args.store:
        settings = settings.replace(store={"url": args.store})
    host = args.host or settings.web.host
    port = settings.web.port if args.port is None else (args.port or free_port(host))
    app = create_app(settings)
    ctx = app.state.ctx
    console.print(
        f"GridTwin map at http://{host}:{port}/ ({len(ctx.grid)} cells from {redact(settings.store.url)}, "
        f"live from mqtt://{settings.mqtt.host}:{settings.mqtt.port}/{settings.mqtt.prefix}); Ctrl-C stops"
    )
    WebServer(app, host, port).run()
    return 0
