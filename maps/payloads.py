"""JSON shapes of the HTTP API and the live stream: cells as GeoJSON features, devices, anomalies.

Times are RFC 3339 strings in UTC (or null), like the outbound MQTT payloads.
Anomalies have exactly the `data` shape of the `org.gridtwin.anomaly.*` CloudEvents.
"""

from __future__ import annotations

import numpy as np
import orjson
import shapely

from twin.contract.cloudevents import anomaly_event
from twin.devices.device import Device
from twin.gcj02 import shift_geometry, to_gcj02
from twin.grid.cells import Cell, Grid
from twin.sensing.anomalies import Anomaly
from twin.sensing.cellstate import CellState
from twin.times import rfc3339


def cell_ref(cell: Cell | None, code: str | None) -> dict | None:
    if cell is None:
        return None if code is None else {"code": code, "name": "", "path": "", "district": code[:6]}
    return {"code": cell.code, "name": cell.name, "path": cell.path, "district": cell.district}


def state_json(state: CellState) -> dict:
    """The live part of a cell, as sent in `cell` stream events."""
    return {
        "code": state.code,
        "level": state.level.label,
        "values": state.values,
        "updated_at": rfc3339(state.updated_at),
        "open_anomalies": state.open_anomalies,
    }


def cell_properties(cell: Cell, state: CellState | None) -> dict:
    state = state or CellState(cell.code)
    return {
        "code": cell.code,
        "name": cell.name,
        "path": cell.path,
        "district": cell.district,
        "worker": cell.worker,
        "level": state.level.label,
        "values": state.values,
        "updated_at": rfc3339(state.updated_at),
        "open_anomalies": state.open_anomalies,
    }


class CellFeatures:
    """GeoJSON of a grid's cells. Geometry never changes for a grid, so its JSON is written once per
    coordinate system (vectorized: WGS-84, and GCJ-02 when a page over such a basemap first asks) and
    only the properties are serialized per request."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self._geometry: dict[str, dict[str, bytes]] = {}

    def geometry(self, crs: str = "wgs84") -> dict[str, bytes]:
        """Cell code -> its geometry's GeoJSON in `crs` ("wgs84" or "gcj02")."""
        if crs not in self._geometry:
            geoms = self.grid.geometries if len(self.grid) else np.empty(0, dtype=object)
            if crs == "gcj02":
                geoms = shift_geometry(geoms)
            texts = shapely.to_geojson(geoms) if len(geoms) else []
            self._geometry[crs] = {c.code: g.encode() for c, g in zip(self.grid.cells, texts)}
        return self._geometry[crs]

    def feature(self, cell: Cell, state: CellState | None, *, geometry: bool = True, crs: str = "wgs84") -> bytes:
        geom = self.geometry(crs)[cell.code] if geometry else b"null"
        props = orjson.dumps(cell_properties(cell, state))
        return b'{"type":"Feature","id":' + orjson.dumps(cell.code) + b',"geometry":' + geom + b',"properties":' + props + b"}"

    def collection(self, states: dict[str, CellState], *, geometry: bool = True, crs: str = "wgs84") -> bytes:
        features = b",".join(self.feature(c, states.get(c.code), geometry=geometry, crs=crs) for c in self.grid.cells)
        return b'{"type":"FeatureCollection","features":[' + features + b"]}"


def shift_devices(devices: list[dict]) -> list[dict]:
    """Device JSON with fixed places shifted to GCJ-02 (for a page over such a basemap), all at once."""
    placed = [d for d in devices if d["lat"] is not None and d["lon"] is not None]
    if placed:
        lon, lat = to_gcj02([d["lon"] for d in placed], [d["lat"] for d in placed])
        for d, x, y in zip(placed, lon.tolist(), lat.tolist()):
            d["lon"], d["lat"] = x, y
    return devices


def device_json(device: Device, grid: Grid) -> dict:
    return {
        "id": device.id,
        "kind": device.kind.value,
        "name": device.name,
        "model": device.model,
        "metrics": list(device.metrics),
        "mobile": device.mobile,
        "lat": device.lat,
        "lon": device.lon,
        "cell": cell_ref(grid.by_code.get(device.cell_code or ""), device.cell_code),
        "status": device.status.value,
        "registered_at": rfc3339(device.registered_at),
        "last_seen": rfc3339(device.last_seen),
    }


def anomaly_json(anomaly: Anomaly, grid: Grid) -> dict:
    """The `data` of the anomaly's CloudEvent, so HTTP and MQTT integrators parse one shape."""
    cell = grid.by_code.get(anomaly.cell_code)
    if cell is None:  # the grid was replaced since; keep the code, lose the names
        cell = Cell(code=anomaly.cell_code, name="", geometry=None)
    return anomaly_event(anomaly, cell, source="gridtwin/web")["data"]
