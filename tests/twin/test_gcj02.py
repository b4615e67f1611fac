"""The GCJ-02 shift: against prcoords (the reference implementation, CC0) and published point pairs,
its inverse, and points outside China."""

from __future__ import annotations

import numpy as np
import prcoords
import pytest
import shapely

from twin.gcj02 import from_gcj02, in_china, shift_geometry, to_gcj02

# (WGS-84 lon, lat) -> (GCJ-02 lon, lat), published with the libraries' tests.
PAIRS = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai, eviltransform python/test.py
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing, eviltransform python/test.py
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),  # wandergis/coordtransform test/app.js
]


@pytest.mark.parametrize("wgs, gcj", PAIRS)
def test_published_pairs(wgs, gcj):
    assert np.allclose(to_gcj02(*wgs), gcj, atol=1e-7, rtol=0)  # a centimetre
    assert np.allclose(from_gcj02(*gcj), wgs, atol=1e-7, rtol=0)


def test_agrees_with_prcoords_everywhere_in_china():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(73, 135, 2000), rng.uniform(18, 53, 2000)
    lon, lat = np.append(lon, [114.3076, 114.35]), np.append(lat, [34.7972, 34.8])  # and Kaifeng
    glon, glat = to_gcj02(lon, lat)
    reference = np.array([prcoords.wgs_gcj((y, x)) for x, y in zip(lon, lat)])
    assert np.abs(glat - reference[:, 0]).max() < 1e-12 and np.abs(glon - reference[:, 1]).max() < 1e-12


def test_the_inverse_returns_the_point_within_a_millimetre():
    rng = np.random.default_rng(4)
    lon, lat = rng.uniform(114.2, 114.5, 2000), rng.uniform(34.7, 34.9, 2000)
    back = from_gcj02(*to_gcj02(lon, lat))
    assert np.abs(back[0] - lon).max() < 1e-8 and np.abs(back[1] - lat).max() < 1e-8


def test_a_kaifeng_landmark_moves_about_550_m():
    # Iron Pagoda Park: an AMap-style POI in GCJ-02, and its WGS-84 position (docs/basemap.md, source S5/S9).
    wgs = from_gcj02(114.37032, 34.816331)
    assert np.allclose(wgs, (114.364384, 34.817101), atol=1e-6, rtol=0)
    east_m = (114.37032 - float(wgs[0])) * 91_400
    assert 530 < east_m < 560


def test_points_outside_china_and_missing_ones_stay_as_they_are():
    lon, lat = np.array([2.35, -74.0, 114.35]), np.array([48.85, 40.7, 34.8])
    glon, glat = to_gcj02(lon, lat)
    assert in_china(lon, lat).tolist() == [False, False, True]
    assert glon[:2].tolist() == [2.35, -74.0] and glat[:2].tolist() == [48.85, 40.7]
    assert np.isnan(to_gcj02(np.nan, 34.8)[0])


def test_geometries_shift_vertex_by_vertex():
    cell = shapely.box(114.34, 34.79, 114.342, 34.792)
    shifted = shift_geometry(cell)
    expected = np.column_stack(to_gcj02(*shapely.get_coordinates(cell).T))
    assert np.array_equal(shapely.get_coordinates(shifted), expected)
    assert np.allclose(shapely.get_coordinates(shift_geometry(shifted, inverse=True)), shapely.get_coordinates(cell),
                       atol=1e-9, rtol=0)


def test_docstring_examples():
    import doctest

    import twin.gcj02

    result = doctest.testmod(twin.gcj02)
    assert result.attempted > 0 and result.failed == 0
