"""What the gateway publishes for integrators once a batch is stored: anomaly events, dead letters
and retained cell states, as CloudEvents (docs/mqtt.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from gateway.outcome import Outcome
from gateway.types import Publish
from mqttwire.topics import Topics
from twin.contract.cloudevents import anomaly_event, cell_state_event, dead_letter_event

if TYPE_CHECKING:
    from twin.grid.cells import Grid

__all__ = ["Outbound"]


class Outbound:
    def __init__(self, publish: Publish, topics: Topics, grid: Grid, source: str, clock: Callable[[], float]):
        self.publish, self.topics, self.grid, self.source, self.clock = publish, topics, grid, source, clock
        self.published = 0

    def send(self, o: Outcome) -> None:
        publish, topics, cells = self.publish, self.topics, self.grid.by_code
        for anomaly in o.anomalies:
            cell = cells[anomaly.cell_code]
            publish(topics.event(cell.district, cell.code, anomaly.type),
                    orjson.dumps(anomaly_event(anomaly, cell, self.source)), qos=1)
        for letter in o.dead_letters:
            publish(topics.dead_letter(letter.reason), orjson.dumps(dead_letter_event(letter, self.source)), qos=1)
        now = self.clock()
        for state in o.states:
            cell = cells[state.code]
            publish(topics.cell_state(cell.district, cell.code),
                    orjson.dumps(cell_state_event(state, cell, self.source, now)), qos=1, retain=True)
        self.published += len(o.anomalies) + len(o.dead_letters) + len(o.states)
