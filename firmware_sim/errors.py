"""Errors raised by the device simulator.

    SimError
    ├── MqttError             talking to the broker failed
    │   ├── ConnectError      no connection (refused socket, timeout, no CONNACK)
    │   │   └── ConnectRefused    the broker answered CONNACK with a non-zero return code
    │   ├── NotConnected      a QoS 0 publish or a disconnect without a connection
    │   └── ProtocolError     the broker sent bytes that are not MQTT 3.1.1
    ├── FleetError            a fleet cannot be built (no cells, bad counts)
    └── ScenarioError         a scenario file is wrong (says the file, line and field)
"""

from __future__ import annotations


class SimError(Exception):
    """Base of every error raised by firmware_sim."""


class MqttError(SimError):
    """Talking to the broker failed."""


class ConnectError(MqttError):
    """The connection could not be opened or the broker did not answer CONNECT."""


class ConnectRefused(ConnectError):
    """The broker refused the connection; `code` is the CONNACK return code."""

    REASONS = {
        1: "unacceptable protocol version",
        2: "client identifier rejected",
        3: "server unavailable",
        4: "bad user name or password",
        5: "not authorized",
    }

    def __init__(self, client_id: str, code: int):
        self.client_id, self.code = client_id, code
        reason = self.REASONS.get(code, "unknown reason")
        super().__init__(f"broker refused client {client_id}: {reason} (CONNACK return code {code})")


class NotConnected(MqttError):
    """The operation needs a connection and the client has none."""


class ProtocolError(MqttError):
    """The broker sent a packet this client does not understand."""


class FleetError(SimError):
    """A fleet cannot be generated as asked."""


class ScenarioError(SimError):
    """A scenario file cannot be used; the message names the file, line and field where known."""

    def __init__(self, message: str, *, path=None, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.reason = path, line, field, message
        where = ":".join(str(p) for p in (path, line) if p is not None)
        super().__init__(f"{where + ': ' if where else ''}{field + ': ' if field else ''}{message}")
