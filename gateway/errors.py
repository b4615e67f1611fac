"""Errors of the gateway package.

    GatewayError
    ├── ConnectError     the broker cannot be reached or refused the connection
    ├── TransportError   a transport used against its lifetime (started twice)
    └── HandoffError     a group member's hand-off that cannot be read (gateway/handoff.py)
        └── HandoffVersionError   from a member of another version
"""


class GatewayError(Exception):
    """Base of the gateway's errors."""


class ConnectError(GatewayError):
    """The MQTT broker cannot be reached or refused the connection; the message says which."""


class TransportError(GatewayError):
    """A transport used against its lifetime (started twice); the message says what to do."""
