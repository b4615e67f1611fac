"""GCJ-02, the coordinate system of AMap (Gaode), Tencent and many Chinese city basemaps: WGS-84
shifted by a published, deliberately irregular function of position (a few hundred metres; about
550 m east and 90 m south in Kaifeng).

GridTwin stores and sends WGS-84 only; a page drawn over a GCJ-02 basemap shifts what it draws at
render time (`to_gcj02`, vectorized over arrays and shapely geometries) and turns a point picked on
that map back (`from_gcj02`, the inverse by fixed-point iteration). The formula is the one every
implementation uses (prcoords, eviltransform, coordtransform, gcoord), with the Krasovsky 1940
ellipsoid; the tests check it against prcoords and published pairs. No package of them takes
arrays, so this is the formula in numpy. Points outside China are returned unchanged, as those
libraries do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

__all__ = ["to_gcj02", "from_gcj02", "shift_geometry", "in_china"]

A = 6378245.0  # Krasovsky 1940
EE = 0.00669342162296594323
INVERSE_ROUNDS = 3  # fixed-point rounds of the inverse: 1e-10 degrees (sub-millimetre) in China


def in_china(lon: Any, lat: Any) -> np.ndarray:
    """Where the shift applies: the rough box of mainland China the libraries use.

    >>> in_china([114.35, 2.35], [34.8, 48.85]).tolist()
    [True, False]
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (degrees of longitude, latitude) at a WGS-84 position."""
    x, y = lon - 105.0, lat - 35.0
    sin, pi = np.sin, np.pi
    waves = 20 * sin(6 * pi * x) + 20 * sin(2 * pi * x)
    dlat = (-100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (waves + 20 * sin(pi * y) + 40 * sin(pi * y / 3) + 160 * sin(pi * y / 12) + 320 * sin(pi * y / 30)) * 2 / 3)
    dlon = (300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (waves + 20 * sin(pi * x) + 40 * sin(pi * x / 3) + 150 * sin(pi * x / 12) + 300 * sin(pi * x / 30)) * 2 / 3)
    phi = np.radians(lat)
    magic = 1 - EE * np.sin(phi) ** 2
    metres_per_degree_lat = np.radians(A * (1 - EE) / magic**1.5)
    metres_per_degree_lon = np.radians(A * np.cos(phi) / np.sqrt(magic))
    china = in_china(lon, lat)
    return np.where(china, dlon / metres_per_degree_lon, 0.0), np.where(china, dlat / metres_per_degree_lat, 0.0)


def to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 longitudes and latitudes (scalars or arrays) shifted to GCJ-02.

    >>> [round(float(v), 6) for v in to_gcj02(114.3076, 34.7972)]
    [114.313444, 34.796307]
    >>> [float(v) for v in to_gcj02(2.35, 48.85)]  # Paris: outside China, unchanged
    [2.35, 48.85]
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def from_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 longitudes and latitudes back to WGS-84: the inverse of `to_gcj02`, by fixed-point
    iteration (each round corrects by the forward error; three leave less than 1e-10 degrees).

    >>> [round(float(v), 6) for v in from_gcj02(*to_gcj02(114.3076, 34.7972))]
    [114.3076, 34.7972]
    """
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(INVERSE_ROUNDS):
        slon, slat = to_gcj02(wlon, wlat)
        wlon, wlat = wlon - (slon - glon), wlat - (slat - glat)
    return wlon, wlat


def shift_geometry(geometry: Any, *, inverse: bool = False) -> Any:
    """A shapely geometry (or array of them) with every vertex shifted to GCJ-02, or back with `inverse`."""
    shift = from_gcj02 if inverse else to_gcj02
    return shapely.transform(geometry, lambda xy: np.column_stack(shift(xy[:, 0], xy[:, 1])))
