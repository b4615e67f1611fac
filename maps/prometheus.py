"""The web app's Prometheus metrics: cells by level, stream clients, the MQTT link, HTTP requests.

Each app has a registry of its own (two apps in one process, as in the tests, count apart), holding
one collector that reads the live parts when scraped; prometheus_client writes the exposition, in
the text format or OpenMetrics as the scraper's Accept header asks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maps.hub import Hub
from maps.live import LiveFeed

__all__ = ["RequestCounter", "WebMetrics"]


class WebMetrics(Collector):
    """The app's metrics; `requests` counts HTTP responses by (route template, method, status)."""

    def __init__(self, hub: Hub, feed: LiveFeed):
        self.hub = hub
        self.feed = feed
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._cells: dict[str, int] = {}

    def exposition(self, cells: dict[str, int], accept: str | None) -> tuple[bytes, str]:
        """(body, content type) of a scrape; `cells` is cells by level, as the map shows them.
        Call it on the event loop's thread, where the live parts change."""
        self._cells = cells
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    def collect(self) -> Iterator[Metric]:
        cells = GaugeMetricFamily("gridtwin_web_cells", "Grid cells by current level.", labels=["level"])
        for level, count in self._cells.items():
            cells.add_metric([level], count)
        yield cells
        yield GaugeMetricFamily("gridtwin_web_sse_clients", "Connected live-stream (SSE) clients.",
                                value=self.hub.clients)
        yield CounterMetricFamily("gridtwin_web_sse_events_total", "Events fanned out to live-stream clients.",
                                  value=self.hub.published)
        yield CounterMetricFamily("gridtwin_web_sse_dropped_clients_total",
                                  "Live-stream clients disconnected for falling behind.",
                                  value=self.hub.dropped_clients)
        yield GaugeMetricFamily("gridtwin_web_mqtt_connected", "1 while the live feed is subscribed to the broker.",
                                value=1 if self.feed.connected else 0)
        messages = CounterMetricFamily("gridtwin_web_mqtt_messages_total",
                                       "MQTT messages received by the live feed, by kind.", labels=["kind"])
        for kind, count in self.feed.messages.items():
            messages.add_metric([kind], count)
        yield messages
        requests = CounterMetricFamily("gridtwin_web_http_requests_total",
                                       "HTTP responses by route, method and status.",
                                       labels=["route", "method", "status"])
        for (route, method, status), count in sorted(self.requests.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests


class RequestCounter:
    """ASGI middleware counting HTTP responses by route template (not raw path, which would
    explode the label set), method and status."""

    def __init__(self, app: ASGIApp, counts: Counter[tuple[str, str, int]]):
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
