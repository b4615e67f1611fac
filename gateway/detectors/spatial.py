"""Space: which devices and camera detections are in a cell and its neighbours, so a deviation can
be corroborated (others nearby agree: more confidence, higher severity) or contradicted (sensors
of the same metric in the same cell read normal: the one that deviates is suspect)."""

from __future__ import annotations

from gateway.detectors.state import Track
from twin.grid import Grid

EvidenceKey = tuple[str, str, str]  # ("track", device, metric) or ("camera", camera, event)


class Evidence:
    """Something nearby that points to an incident: a deviating sensor or a camera detection."""

    __slots__ = ("camera", "cell", "confidence", "device_id", "key", "kinds", "label", "track", "ts", "until")

    def __init__(self, key: EvidenceKey, device_id: str, cell: str, kinds: frozenset[str], ts: float, label: str,
                 *, camera: bool = False, track: Track | None = None, confidence: float | None = None):
        self.key, self.device_id, self.cell, self.kinds = key, device_id, cell, kinds
        self.ts = ts
        self.until: float | None = None  # None: still going on
        self.label, self.camera, self.track, self.confidence = label, camera, track, confidence

    def as_dict(self, relation: str) -> dict:
        found = {"device_id": self.device_id, "cell": self.cell, "relation": relation,
                 "kind": "camera" if self.camera else "sensor", "what": self.label, "ts": self.ts}
        if self.confidence is not None:
            found["confidence"] = self.confidence
        return found


class SpatialIndex:
    """Tracks per cell and metric, and current or recent evidence per cell."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self.tracks: dict[str, dict[str, set[Track]]] = {}  # cell -> metric -> tracks
        self.evidence: dict[str, dict[EvidenceKey, Evidence]] = {}  # cell -> key -> evidence
        self._near: dict[str, tuple[str, ...]] = {}

    def near(self, cell: str) -> tuple[str, ...]:
        """The cell and its neighbours."""
        found = self._near.get(cell)
        if found is None:
            try:
                found = (cell, *self.grid.neighbours(cell))
            except KeyError:
                found = (cell,)
            self._near[cell] = found
        return found

    def place(self, track: Track, cell: str) -> None:
        if track.cell == cell:
            return
        if track.cell:
            self.tracks.get(track.cell, {}).get(track.metric.name, set()).discard(track)
        track.cell = cell
        self.tracks.setdefault(cell, {}).setdefault(track.metric.name, set()).add(track)

    def same_metric(self, track: Track, cells: tuple[str, ...] | None = None) -> list[Track]:
        """Other devices' tracks of the same metric in `cells` (default: the track's own cell)."""
        out = []
        for cell in cells or (track.cell,):
            for other in self.tracks.get(cell, {}).get(track.metric.name, ()):
                if other.device_id != track.device_id:
                    out.append(other)
        return sorted(out, key=lambda t: t.device_id)

    # -- evidence ------------------------------------------------------------------------------
    def add(self, evidence: Evidence) -> None:
        self.evidence.setdefault(evidence.cell, {})[evidence.key] = evidence

    def end(self, cell: str | None, key: EvidenceKey, ts: float) -> None:
        found = self.evidence.get(cell, {}).get(key) if cell is not None else None
        if found is not None and found.until is None:
            found.until = ts

    def drop(self, cell: str | None, key: EvidenceKey) -> None:
        if cell is not None:
            self.evidence.get(cell, {}).pop(key, None)

    def around(self, cell: str, kinds: frozenset[str], ts: float, window: float,
               exclude: EvidenceKey | None = None) -> list[tuple[Evidence, str]]:
        """Evidence in the cell and its neighbours pointing to any of `kinds`, going on at `ts` or
        within `window` of it; with the relation ("same cell" or "neighbouring cell")."""
        out = []
        for code in self.near(cell):
            for evidence in self.evidence.get(code, {}).values():
                if evidence.key == exclude or not (evidence.kinds & kinds):
                    continue
                if evidence.ts > ts + window:
                    continue
                if evidence.until is not None and evidence.until < ts - window:
                    continue
                out.append((evidence, "same cell" if code == cell else "neighbouring cell"))
        out.sort(key=lambda item: (item[0].ts, str(item[0].key)))
        return out

    def prune(self, now: float, window: float) -> None:
        for cell, items in list(self.evidence.items()):
            for key in [k for k, e in items.items() if e.until is not None and e.until < now - window]:
                del items[key]
            if not items:
                del self.evidence[cell]
