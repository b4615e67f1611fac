"""`gridtwin gateway`: the MQTT ingest process on its own."""

from __future__ import annotations

import asyncio
import signal

from gridtwin.cli import add_config_argument
from twin.config import load_settings
from twin.store import redact


def register(sub) -> None:
    p = sub.add_parser("gateway", help="run the MQTT ingest gateway")
    add_config_argument(p)
    p.add_argument("--store", metavar="URL", help="store URL (overrides store.url)")
    p.set_defaults(func=run)


async def serve_gateway(settings, store, grid, console) -> dict:
    from gateway import Gateway

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Gateway(settings, store, grid) as gw:
        console.print(f"gateway {settings.gateway.instance} connected to {settings.mqtt.host}:{settings.mqtt.port} "
                      f"(MQTT {gw.summary()['mqtt_protocol']}), storing to {redact(store.url)}")
        await gw.run(stop)
        return gw.summary()


def run(args, console) -> int:
    from gateway import ConnectError
    from twin.store import open_twin

    settings = load_settings(args.config)
    store, grid = open_twin(settings, args.store)
    try:
        summary = asyncio.run(serve_gateway(settings, store, grid, console))
    except ConnectError as exc:
        console.error(str(exc))
        return 3
    finally:
        store.close()
    console.result(summary, f"stopped: {summary}")
    return 0
