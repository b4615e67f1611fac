"""Prometheus text exposition of the web app: cells by level, stream clients, MQTT link, HTTP requests."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from maps.context import Context


class RequestCounter:
    """ASGI middleware counting HTTP responses by route template (not raw path, which would
    explode the label set), method and status."""

    def __init__(self, app: ASGIApp, counts: Counter):
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.counts[(template, scope["method"], status)] += 1


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[dict, float]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")


def render_metrics(ctx: Context, counts: dict[str, int]) -> str:
    """The exposition text; `counts` is cells by level, as the map shows them."""
    lines: list[str] = []
    _family(lines, "gridtwin_web_cells", "gauge", "Grid cells by current level.",
            [({"level": level}, n) for level, n in counts.items()])
    _family(lines, "gridtwin_web_sse_clients", "gauge", "Connected live-stream (SSE) clients.",
            [({}, ctx.hub.clients)])
    _family(lines, "gridtwin_web_sse_events_total", "counter", "Events fanned out to live-stream clients.",
            [({}, ctx.hub.published)])
    _family(lines, "gridtwin_web_sse_dropped_clients_total", "counter",
            "Live-stream clients disconnected for falling behind.", [({}, ctx.hub.dropped_clients)])
    _family(lines, "gridtwin_web_mqtt_connected", "gauge", "1 while the live feed is subscribed to the broker.",
            [({}, 1 if ctx.feed.connected else 0)])
    _family(lines, "gridtwin_web_mqtt_messages_total", "counter", "MQTT messages received by the live feed, by kind.",
            [({"kind": kind}, n) for kind, n in ctx.feed.messages.items()])
    _family(lines, "gridtwin_web_http_requests_total", "counter", "HTTP responses by route, method and status.",
            [({"route": r, "method": m, "status": s}, n) for (r, m, s), n in sorted(ctx.requests.items())])
    return "\n".join(lines) + "\n"
