"""Helpers of the adapter tests: build an adapter from options, and decode one message through it."""

from __future__ import annotations

import orjson

from gateway.messages import Decoded
from mqttwire.packets import Inbound
from mqttwire.topics import Topics
from twin.config import Settings

NOW = 1_795_939_200.0  # 2026-11-29T08:00:00Z
TOPICS = Topics()


def make(cls, options: dict | None = None, settings: Settings | None = None):
    return cls(settings or Settings(), TOPICS, options)


def raw(payload) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return orjson.dumps(payload)


def decode(adapter, topic: str, payload, received_at: float = NOW) -> Decoded:
    """What the adapter makes of one message; a topic it does not claim is a test failure."""
    route = adapter.match(topic)
    assert route is not None, f"{adapter.name} does not claim {topic}"
    out = Decoded()
    adapter.decode(Inbound(topic, raw(payload), received_at), route, out)
    return out


def only(out: Decoded):
    """The single observation of a decode that must have made exactly one and rejected nothing."""
    assert not out.rejections, [(r.reason, r.detail) for r in out.rejections]
    (observation,) = out.observations
    return observation


def reasons(out: Decoded) -> list[str]:
    return [str(r.reason) for r in out.rejections]
