"""MQTT ingest: connection, payload adapters, validation, batching, dead letters, detectors, outbound.

Public names: Gateway (the service), Pipeline (batch processing without I/O),
Reason (dead-letter reasons), GatewayError and ConnectError. The contract's topics
are mqttwire.topics.Topics.
"""

from gateway.deadletters import Reason
from gateway.errors import ConnectError, GatewayError
from gateway.outcome import Outcome
from gateway.pipeline import Pipeline
from gateway.service import Gateway

__all__ = ["ConnectError", "Gateway", "GatewayError", "Outcome", "Pipeline", "Reason"]
