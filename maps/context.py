"""What every request handler of the web app shares: settings, store, grid and the live parts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from maps.hub import Hub
from maps.live import CellBoard, LiveFeed
from maps.payloads import CellFeatures
from twin.config import Settings
from twin.grid import Grid
from twin.store.base import TwinStore


@dataclass
class Context:
    settings: Settings
    store: TwinStore
    grid: Grid
    hub: Hub
    board: CellBoard
    feed: LiveFeed
    features: CellFeatures
    heartbeat: float = 15.0  # seconds of silence after which a stream gets a comment line
    requests: Counter = field(default_factory=Counter)  # (route, method, status) -> responses
