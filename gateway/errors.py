"""Errors of the gateway package.

    GatewayError
    └── ConnectError   the broker cannot be reached or refused the connection
"""


class GatewayError(Exception):
    """Base of the gateway's errors."""


class ConnectError(GatewayError):
    """The MQTT broker cannot be reached or refused the connection; the message says which."""
