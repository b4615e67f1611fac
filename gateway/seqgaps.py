"""Messages lost on the way from a device: the sequence numbers it skipped.

A device numbers its messages (`seq`, optional); a gap between two numbers the gateway
received is messages that never arrived (the broker dropped them, or the device's link lost
them). A jump of more than MAX_SEQ_GAP either way is a counter that restarted or a number that
is no counter at all, not loss: it only moves the mark.
"""

from __future__ import annotations

__all__ = ["MAX_SEQ_GAP", "SeqGaps"]

MAX_SEQ_GAP = 100_000  # skipped sequence numbers one jump may count as lost messages


class SeqGaps:
    """The latest sequence number of each device, and the gaps after it."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def note(self, device_id: str, seq: int | None) -> int:
        """Take the device's next sequence number; how many it skipped (counted, a seq of 2**62 once
        made the gateway's figures too large to publish: hence the bound)."""
        if seq is None:
            return 0
        last = self._last.get(device_id)
        skipped = seq - last - 1 if last is not None and last + 1 < seq <= last + 1 + MAX_SEQ_GAP else 0
        if last is None or seq > last or last - seq > MAX_SEQ_GAP:
            self._last[device_id] = seq
        return skipped
