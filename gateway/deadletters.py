"""Dead-letter reasons: the fixed, documented list of why the gateway rejects input.

Every rejected message (or rejected item of a buffered array) is published on
`{prefix}/deadletter/{reason}` and counted per reason and device; the good
readings around it are still stored.
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    MALFORMED_JSON = "malformed_json"  # not UTF-8, or not JSON
    SCHEMA = "schema"  # JSON of the wrong shape: missing/invalid fields, non-finite numbers
    UNKNOWN_METRIC = "unknown_metric"  # a metric name that is not in the metric catalog
    OUT_OF_RANGE = "out_of_range"  # a value outside the metric's physically valid range
    UNKNOWN_DEVICE = "unknown_device"  # the device id in the topic is not registered
    OUT_OF_AREA = "out_of_area"  # the location is outside WGS84 or outside every grid cell
    STALE_TIMESTAMP = "stale_timestamp"  # older than gateway.max_age_s
    FUTURE_TIMESTAMP = "future_timestamp"  # further ahead than gateway.max_future_s
    OVERSIZED = "oversized"  # payload over gateway.max_payload_bytes, or an array over max_batch_readings
    UNAUTHORIZED = "unauthorized"  # a disabled device, or a device publishing on another kind's topic
    UNKNOWN_TOPIC = "unknown_topic"  # a topic under the prefix that no route accepts


DESCRIPTIONS: dict[Reason, str] = {
    Reason.MALFORMED_JSON: "the payload is not valid UTF-8 JSON",
    Reason.SCHEMA: "the JSON does not have the contract's shape (field, type or value invalid)",
    Reason.UNKNOWN_METRIC: "a metric name is not in the metric catalog",
    Reason.OUT_OF_RANGE: "a value is outside the metric's valid range",
    Reason.UNKNOWN_DEVICE: "the device is not registered",
    Reason.OUT_OF_AREA: "the location is outside WGS84 or outside every grid cell",
    Reason.STALE_TIMESTAMP: "the timestamp is older than the accepted age",
    Reason.FUTURE_TIMESTAMP: "the timestamp is too far in the future",
    Reason.OVERSIZED: "the payload or its array is larger than allowed",
    Reason.UNAUTHORIZED: "the device is disabled or not allowed on this topic",
    Reason.UNKNOWN_TOPIC: "no route accepts this topic",
}
