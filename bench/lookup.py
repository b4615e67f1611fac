"""Point-to-cell assignment: GridTwin's lookup vs `geopandas.sjoin` vs PostGIS `ST_Contains`.

For each grid (square cells, which GridTwin answers by lattice arithmetic, and hexagons,
which stand for any imported polygons and go through its raster path) of about `--cells`
cells, P random points over the grid's box and a margin around it (some fall outside) are
assigned to cells by:
- `Grid.locate` on the coordinate arrays (our lookup, its index built once and kept);
- the gateway's resolve path (`Pipeline._locate` on (lat, lon) tuples, in batches of
  `gateway.batch_size`), as a batch of mobile readings reaches it;
- baseline `geopandas.sjoin(points, cells, predicate="within")`, both frames built beforehand
  and the cells' spatial index built by a first call;
- baseline PostGIS: `ST_Contains` joining a points table to a cells table with a GiST index in
  a throwaway cluster (the tables loaded beforehand; the join's time only).
Each time is the median of `--runs` (PostGIS: of `--postgis-runs`, default 1: it is a hundred
times slower); the cold first call of ours (index build) is reported too.
The assignments are compared: ours against sjoin's lowest matching cell, and against PostGIS.

    python -m bench lookup [--cells 10000,100000] [--points 1000000] [--runs 3] [--shapes square,hex] [--json]
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import time

import numpy as np
import shapely

from bench.common import emit
from twin.grid.cells import Grid

SIZE_M = 200.0


def lookup_grid(cells: int, shape: str) -> Grid:
    """About `cells` cells of 200 m (square, or hexagons that wide across flats) in one district."""
    from twin.grid.generate import generate_grid

    per_side = math.sqrt(cells * (math.sqrt(3) / 2 if shape == "hex" else 1.0))
    side = per_side * SIZE_M
    dlat = side / 111_320.0
    dlon = side / (111_320.0 * math.cos(math.radians(34.8)))
    return generate_grid((114.25, 34.70, 114.25 + dlon * 0.999, 34.70 + dlat * 0.999), SIZE_M, shape=shape,
                         district_code="410204", streets=(10, 10), communities=(4, 4))


def random_points(grid: Grid, n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform over the grid's box widened by 2% on each side."""
    x0, y0, x1, y1 = grid.bounds
    mx, my = (x1 - x0) * 0.02, (y1 - y0) * 0.02
    rng = np.random.default_rng(seed)
    return rng.uniform(x0 - mx, x1 + mx, n), rng.uniform(y0 - my, y1 + my, n)


def timed(fn, runs: int) -> tuple[float, object]:
    """(median seconds over `runs` calls, the last result)."""
    times, out = [], None
    for _ in range(runs):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def ours(grid: Grid, x: np.ndarray, y: np.ndarray, runs: int) -> dict:
    fresh = Grid(grid.cells, grid.meta)  # no index yet
    started = time.perf_counter()
    fresh.locate_index(x, y)
    cold = time.perf_counter() - started
    seconds, index = timed(lambda: fresh.locate_index(x, y), runs)
    return {"seconds": seconds, "cold_seconds": cold, "index": index,
            "path": "lattice" if fresh._lattice is not None else "raster"}


def pipeline(grid: Grid, x: np.ndarray, y: np.ndarray, runs: int) -> dict:
    from gateway.pipeline import Pipeline
    from twin.config import Settings

    settings = Settings()
    pipe = Pipeline(settings, grid)
    batch = settings.gateway.batch_size
    points = list(zip(y.tolist(), x.tolist()))  # (lat, lon), as the pipeline collects them
    pipe._locate(points[:batch])  # the grid's index, built once per process

    def run():
        out = []
        for i in range(0, len(points), batch):
            out.extend(pipe._locate(points[i:i + batch]))
        return out

    seconds, _ = timed(run, runs)
    return {"seconds": seconds, "batch": batch}


def sjoin(grid: Grid, x: np.ndarray, y: np.ndarray, runs: int) -> dict:
    import geopandas

    cells = geopandas.GeoDataFrame({"idx": np.arange(len(grid))}, geometry=list(grid.geometries), crs="EPSG:4326")
    points = geopandas.GeoDataFrame(geometry=shapely.points(x, y), crs="EPSG:4326")
    cells.sindex  # noqa: B018 - built once, as ours is

    def run():
        return geopandas.sjoin(points, cells, how="inner", predicate="within")

    seconds, joined = timed(run, runs)
    lowest = np.full(len(x), -1, dtype=np.intp)
    if len(joined):
        order = np.asarray(joined.index)
        found = np.asarray(joined["idx"])
        lowest_found = np.full(len(x), len(grid), dtype=np.intp)
        np.minimum.at(lowest_found, order, found)
        lowest = np.where(lowest_found == len(grid), -1, lowest_found)
    return {"seconds": seconds, "index": lowest}


def postgis(grid: Grid, x: np.ndarray, y: np.ndarray, runs: int, cluster) -> dict:
    import psycopg

    url = cluster.create_database()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE cells (idx integer PRIMARY KEY, geom geometry(Polygon, 4326) NOT NULL)")
            conn.execute("CREATE TABLE points (id integer PRIMARY KEY, geom geometry(Point, 4326) NOT NULL)")
            with conn.cursor().copy("COPY cells (idx, geom) FROM STDIN") as copy:
                for i, wkb in enumerate(shapely.to_wkb(grid.geometries, hex=True, include_srid=False)):
                    copy.write_row((i, f"SRID=4326;{wkb}"))
            text = io.StringIO()
            for i, (px, py) in enumerate(zip(x.tolist(), y.tolist())):
                text.write(f"{i}\tSRID=4326;POINT({px!r} {py!r})\n")
            with conn.cursor().copy("COPY points (id, geom) FROM STDIN") as copy:
                copy.write(text.getvalue())
            conn.execute("CREATE INDEX cells_geom ON cells USING gist (geom)")
            conn.execute("ANALYZE cells")
            conn.execute("ANALYZE points")
            join = "SELECT p.id, min(c.idx) FROM points p JOIN cells c ON ST_Contains(c.geom, p.geom) GROUP BY p.id"

            def run():
                return conn.execute(f"SELECT count(*), sum(m) FROM ({join.replace('min(c.idx)', 'min(c.idx) AS m')}) j"
                                    ).fetchone()

            seconds, _ = timed(run, runs)
            index = np.full(len(x), -1, dtype=np.intp)
            rows = np.array(conn.execute(join).fetchall(), dtype=np.int64).reshape(-1, 2)
            index[rows[:, 0]] = rows[:, 1]
            plan = conn.execute(f"EXPLAIN {join}").fetchall()
            uses_index = any("cells_geom" in line for (line,) in plan)
    finally:
        cluster.drop_database(url)
    return {"seconds": seconds, "index": index, "uses_gist_index": uses_index}


def one_grid(cells: int, shape: str, points: int, runs: int, cluster, postgis_runs: int = 1) -> dict:
    grid = lookup_grid(cells, shape)
    x, y = random_points(grid, points)
    mine = ours(grid, x, y, runs)
    pipe = pipeline(grid, x, y, runs)
    joined = sjoin(grid, x, y, runs)
    rate = lambda seconds: round(points / seconds)  # noqa: E731
    out = {
        "shape": shape, "cells": len(grid), "points": points, "path": mine["path"],
        "inside": int((mine["index"] >= 0).sum()),
        "ours_points_per_s": rate(mine["seconds"]),
        "ours_cold_points_per_s": rate(mine["cold_seconds"]),
        "pipeline_points_per_s": rate(pipe["seconds"]),
        "sjoin_points_per_s": rate(joined["seconds"]),
        "ours_vs_sjoin": round(joined["seconds"] / mine["seconds"], 2),
        "disagree_sjoin": int((mine["index"] != joined["index"]).sum()),
    }
    if cluster is not None:
        pg = postgis(grid, x, y, postgis_runs, cluster)
        out |= {"postgis_points_per_s": rate(pg["seconds"]), "postgis_uses_gist_index": pg["uses_gist_index"],
                "ours_vs_postgis": round(pg["seconds"] / mine["seconds"], 2),
                "disagree_postgis": int((mine["index"] != pg["index"]).sum())}
    return out


def measure(cells: list[int], points: int, runs: int, shapes: list[str], postgres: bool = True, cluster=None,
            postgis_runs: int = 1) -> dict:
    from contextlib import nullcontext

    from gridtwin.pgcluster import ThrowawayCluster

    results = []
    owner = nullcontext(cluster) if cluster is not None or not postgres else ThrowawayCluster()
    with owner as pg:
        for shape in shapes:
            for n in cells:
                results.append(one_grid(n, shape, points, runs, pg, postgis_runs))
    return {"benchmark": "lookup", "points": points, "runs": runs, "postgis_runs": postgis_runs, "results": results}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench lookup", description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", default="10000,100000", help="about this many cells per grid, comma-separated")
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--shapes", default="square,hex", help="cell shapes: square (lattice path), hex (raster path)")
    p.add_argument("--postgis-runs", type=int, default=1, help="runs of the PostGIS join (default 1)")
    p.add_argument("--no-postgis", action="store_true", help="leave out the PostGIS baseline")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = measure([int(c) for c in args.cells.split(",")], args.points, args.runs,
                [s.strip() for s in args.shapes.split(",")], postgres=not args.no_postgis, postgis_runs=args.postgis_runs)
    lines = [f"point-to-cell assignment of {r['points']:,} points, median of {r['runs']} runs (points/s)"]
    for x in r["results"]:
        pg = (f", PostGIS ST_Contains+GiST {x['postgis_points_per_s']:,} (ours x{x['ours_vs_postgis']}, "
              f"{x['disagree_postgis']} differ)") if "postgis_points_per_s" in x else ""
        lines.append(f"  {x['cells']:>7,} {x['shape']} cells ({x['path']} path), {x['inside']:,} points inside: "
                     f"ours {x['ours_points_per_s']:,} (cold {x['ours_cold_points_per_s']:,}), gateway resolve path "
                     f"{x['pipeline_points_per_s']:,}; sjoin {x['sjoin_points_per_s']:,} (ours x{x['ours_vs_sjoin']}, "
                     f"{x['disagree_sjoin']} differ){pg}")
    emit(r, args.json, lines)
    return 0
