"""MQTT topics of the contract, built and parsed in one place: by the gateway, the simulator's
devices and the web app's live feed alike."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Route", "Topics"]


@dataclass(frozen=True, slots=True)
class Route:
    """What an inbound topic addresses: `kind` is "readings", "camera" or "status"."""

    kind: str
    device_id: str


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic tree under one prefix (default `gridtwin/v1`).

    >>> t = Topics("gridtwin/v1")
    >>> t.route("gridtwin/v1/readings/aq-1")
    Route(kind='readings', device_id='aq-1')
    >>> t.route("gridtwin/v1/readings/a/b") is None
    True
    >>> t.event("410204", "410204001001003", "pm25_high")
    'gridtwin/v1/events/410204/410204001001003/pm25_high'
    """

    prefix: str = "gridtwin/v1"

    def __post_init__(self) -> None:
        if not self.prefix or any(ch in self.prefix for ch in "+#") or self.prefix.endswith("/"):
            raise ValueError(f"MQTT prefix {self.prefix!r} must be non-empty, without wildcards or a trailing '/'")

    # -- inbound ------------------------------------------------------------
    @property
    def inbound_filters(self) -> tuple[str, ...]:
        # Multi-level wildcards so that malformed topics reach the gateway and become dead letters.
        return (f"{self.prefix}/readings/#", f"{self.prefix}/camera/#", f"{self.prefix}/status/#")

    def route(self, topic: str) -> Route | None:
        """The route of an inbound topic, or None when no route accepts it."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) == 2 and parts[0] in ("readings", "status") and parts[1]:
            return Route(parts[0], parts[1])
        if len(parts) == 3 and parts[0] == "camera" and parts[2] == "events" and parts[1]:
            return Route("camera", parts[1])
        return None

    def readings(self, device_id: str) -> str:
        return f"{self.prefix}/readings/{device_id}"

    def camera_events(self, camera_id: str) -> str:
        return f"{self.prefix}/camera/{camera_id}/events"

    def status(self, device_id: str) -> str:
        return f"{self.prefix}/status/{device_id}"

    # -- outbound -----------------------------------------------------------
    def event(self, district: str, cell_code: str, type_: str) -> str:
        return f"{self.prefix}/events/{district}/{cell_code}/{type_}"

    def cell_state(self, district: str, cell_code: str) -> str:
        return f"{self.prefix}/cells/{district}/{cell_code}/state"

    def case(self, district: str, case_id: str) -> str:
        return f"{self.prefix}/cases/{district}/{case_id}"

    def dead_letter(self, reason: str) -> str:
        return f"{self.prefix}/deadletter/{reason}"
