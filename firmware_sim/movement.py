"""Mobile sensors on the move: a rider's random walk that never leaves the grid."""

from __future__ import annotations

import math
import random

import shapely
from shapely.geometry.base import BaseGeometry

_M_PER_DEG_LAT = 111_320.0


def grid_area(grid) -> BaseGeometry:
    """The union of a grid's cells, prepared for fast point tests."""
    area = shapely.union_all([c.geometry for c in grid.cells])
    shapely.prepare(area)
    return area


class RandomWalk:
    """Position of a rider moving at about `speed` m/s, turning a little at every step.

    A step that would leave `area` is tried again in a new direction and at
    half the length; when nothing fits the rider waits where it is.
    """

    def __init__(self, lon: float, lat: float, area: BaseGeometry, rng: random.Random, *, speed: float = 4.0,
                 max_step_m: float = 400.0):
        self.lon, self.lat = lon, lat
        self.area = area
        self.rng = rng
        self.speed = speed
        self.max_step_m = max_step_m
        self.heading = rng.uniform(0.0, 2.0 * math.pi)

    def step(self, dt: float) -> tuple[float, float]:
        """Move for `dt` seconds; return the new (lon, lat)."""
        if dt <= 0:
            return self.lon, self.lat
        rng = self.rng
        distance = min(self.max_step_m, self.speed * dt * rng.uniform(0.5, 1.5))
        self.heading += rng.gauss(0.0, 0.6)
        for _ in range(8):
            dy = distance * math.cos(self.heading) / _M_PER_DEG_LAT
            dx = distance * math.sin(self.heading) / (_M_PER_DEG_LAT * math.cos(math.radians(self.lat)))
            lon, lat = self.lon + dx, self.lat + dy
            if shapely.contains_xy(self.area, lon, lat):
                self.lon, self.lat = lon, lat
                break
            self.heading += math.pi + rng.uniform(-1.0, 1.0)
            distance /= 2.0
        return self.lon, self.lat
