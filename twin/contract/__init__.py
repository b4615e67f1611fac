"""What integrators rely on: the outbound payloads (CloudEvents 1.0 structured JSON for
anomalies, case updates, cell states and dead letters) and the JSON Schemas in docs/schemas that
describe them, with validation against them.
"""

from __future__ import annotations

from twin.contract.cloudevents import (
    ANOMALY_CLEARED,
    ANOMALY_OPENED,
    CASE_EVENT_PREFIX,
    CELL_STATE,
    DEAD_LETTER,
    SPEC_VERSION,
    anomaly_event,
    case_json,
    case_update_event,
    cell_ref,
    cell_state_event,
    dead_letter_event,
    envelope,
)
from twin.contract.schemas import (
    SCHEMA_DIR,
    errors,
    event_schema_name,
    load_schema,
    schema_names,
    validate,
    validate_event,
)

__all__ = ["ANOMALY_CLEARED", "ANOMALY_OPENED", "CASE_EVENT_PREFIX", "CELL_STATE", "DEAD_LETTER", "SPEC_VERSION",
           "anomaly_event", "case_json", "case_update_event", "cell_ref", "cell_state_event", "dead_letter_event",
           "envelope", "SCHEMA_DIR", "errors", "event_schema_name", "load_schema", "schema_names", "validate",
           "validate_event"]
