"""Keys looked at lately, for asking the store again about an unknown device only now and then."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Recently"]


class Recently:
    """When each key was last looked at, for asking again only after `window_s`. Keys older than
    that are forgotten once there are `prune_at` of them: a stream of ever-new device ids (a
    misconfigured fleet, or hostile traffic) must not grow it without bound."""

    __slots__ = ("prune_at", "seen", "window_s")

    def __init__(self, window_s: float, prune_at: int = 4096):
        self.window_s, self.prune_at = window_s, prune_at
        self.seen: dict[str, float] = {}

    def due(self, keys: Iterable[str], now: float) -> list[str]:
        """The keys not looked at within the window; they count as looked at now."""
        seen, window = self.seen, self.window_s
        due = [k for k in keys if now - seen.get(k, -1e18) > window]
        for k in due:
            seen[k] = now
        if len(seen) > self.prune_at:
            self.seen = {k: t for k, t in seen.items() if now - t <= window}
            self.prune_at = max(self.prune_at, 2 * len(self.seen))
        return due
