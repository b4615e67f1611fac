"""The built-in demo city, Kaifeng's old city: its vector basemap, the demo area and its street units,
and the demo grid made from them by the street-block generator (twin.grid.streets).

`kaifeng-basemap.geojson` is an approximate map of the walled city (the wall and its gates, the
lakes, parks, landmarks and main streets, labelled in Chinese and English); docs/basemap.md
gives its sources and accuracy. `kaifeng-area.geojson` is the walled city and the station area
south of it; `kaifeng-units.geojson` gives the real codes and names of the districts (GB/T 2260)
and streets (街道, NBS statistical codes) with approximate extents. The cell geometry, the
communities and the workers are generated, and the grid's metadata says so.

`square_demo_grid` is the demo grid as it was before it followed the streets: 200 m squares
over the same old city in the same four districts. Scenario files written against its cell codes
keep using it (`grid = "demo-square"`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import shapely

from twin.grid.cells import Cell, Grid
from twin.grid.files import read_area, read_roads, read_units
from twin.grid.generate import lattice, lattice_cells
from twin.grid.streets import street_grid

__all__ = ["BASEMAP", "AREA", "UNITS", "CELL_SIZE_M", "demo_grid", "square_demo_grid", "SQUARE_DISTRICTS"]

HERE = Path(__file__).parent
BASEMAP = HERE / "kaifeng-basemap.geojson"
AREA = HERE / "kaifeng-area.geojson"
UNITS = HERE / "kaifeng-units.geojson"
CELL_SIZE_M = 200
CITY = "Kaifeng 开封市"


def _worker(code: str) -> str:
    return f"Grid worker {code}"


@cache
def demo_grid() -> Grid:
    """Kaifeng's old city in street blocks of about 200 m, in the real districts and streets
    inside the wall and the station area south of it (Longting, Shunhe, Gulou and Yuwangtai).

    Deterministic and cached: every call returns the same Grid object.
    """
    grid = street_grid(read_roads(BASEMAP), read_area(AREA), cell_size_m=CELL_SIZE_M, units=read_units(UNITS),
                       city_name=CITY, worker=_worker)
    meta = grid.meta | {
        "name": "Kaifeng old city (demo)",
        "basemap": BASEMAP.name,
        "grouping": "generated",
        "note": (
            "Demo grid. District and street codes and names are real (GB/T 2260, NBS statistical codes); "
            "the streets' extents are approximate, and the cell geometry (the blocks of an approximate "
            "basemap split to about 200 m), the communities and the worker names are generated and are "
            "not official boundaries."
        ),
    }
    return Grid(grid.cells, meta)


# -- the square demo grid --------------------------------------------------------

SQUARE_BBOX = (114.33, 34.78, 114.37, 34.81)
# GB/T 2260 codes of Kaifeng's urban districts, with (streets, communities) blocks of each; the
# split of the old city between them, and everything below district level, is generated.
SQUARE_DISTRICTS = {
    "410202": ("Longting District 龙亭区", (3, 1), (2, 2)),
    "410203": ("Shunhe Hui District 顺河回族区", (1, 2), (2, 2)),
    "410204": ("Gulou District 鼓楼区", (2, 2), (2, 2)),
    "410205": ("Yuwangtai District 禹王台区", (2, 1), (2, 2)),
}


def _square_district(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """District of each cell from its centre's position in the box (u west->east, v north->south, 0..1)."""
    district = np.full(len(u), "410204", dtype=object)  # Gulou: centre and south-west
    district[(v < 0.40) & (u < 0.70)] = "410202"  # Longting: north
    district[(v < 0.65) & (u >= 0.70)] = "410203"  # Shunhe: east
    district[(v >= 0.65) & (u >= 0.60)] = "410205"  # Yuwangtai: south-east
    return district


@cache
def square_demo_grid() -> Grid:
    """200 m squares over 114.33-114.37 E, 34.78-34.81 N in the four real districts, with generated
    streets, communities and workers: the demo grid before it followed the streets.

    Deterministic and cached: every call returns the same Grid object.
    """
    polys, rows, cols = lattice(SQUARE_BBOX, CELL_SIZE_M, "square")
    centres = shapely.get_coordinates(shapely.centroid(polys))
    west, south, east, north = SQUARE_BBOX
    district = _square_district((centres[:, 0] - west) / (east - west), (north - centres[:, 1]) / (north - south))
    cells: list[Cell] = []
    for code, (name, streets, communities) in SQUARE_DISTRICTS.items():
        m = district == code
        cells += lattice_cells(polys[m], rows[m], cols[m], code, name, streets, communities, worker=_worker)
    meta = {
        "name": "Kaifeng old city (square demo)",
        "city": CITY,
        "source": "generated",
        "geometry": "generated",
        "grouping": "generated",
        "crs": "EPSG:4326",
        "shape": "square",
        "cell_size_m": CELL_SIZE_M,
        "bbox": list(SQUARE_BBOX),
        "projection": "equirectangular at the bbox centre latitude",
        "districts": {code: spec[0] for code, spec in SQUARE_DISTRICTS.items()},
        "note": (
            "Demo grid. District codes and names are real (GB/T 2260); the split of the old city "
            "between districts, the cell geometry, the street/community grouping and the worker "
            "names are generated and are not official boundaries."
        ),
    }
    return Grid(cells, meta)
