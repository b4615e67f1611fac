"""Payload adapters: each turns the messages of one source format into observations.

An adapter is one module with a class that has `filters` (the topic filters it
subscribes to), `accepts(topic)` and `decode(message, route) -> Decoded`.
"""

from gateway.adapters.native import NativeAdapter

__all__ = ["NativeAdapter"]
