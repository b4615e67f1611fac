"""`gridtwin grid generate|import|export`: make, load and save the grid of cells."""

from __future__ import annotations

import argparse

from gridtwin.cli import add_config_argument
from twin.config import load_settings
from twin.errors import GridValidationError


def _bbox(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"{text!r} must be W,S,E,N: four numbers (min lon, min lat, max lon, max lat)")
    return values  # type: ignore[return-value]


def _blocks(text: str) -> tuple[int, int]:
    cols, sep, rows = text.lower().partition("x")
    if not sep or not cols.strip().isdigit() or not rows.strip().isdigit() or int(cols) < 1 or int(rows) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be COLSxROWS, e.g. 2x3")
    return int(cols), int(rows)


def _add_store_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="URL", help="store URL (overrides store.url): sqlite:///path or postgresql://...")
    add_config_argument(p)


def register(sub) -> None:
    p = sub.add_parser("grid", help="generate, import and export grids of cells")
    actions = p.add_subparsers(dest="grid_action", required=True, metavar="ACTION")

    g = actions.add_parser(
        "generate",
        help="write a generated grid (or the demo grid) to a file",
        description="Street blocks from a city's roads (--roads, with --area or --units), split to about "
        "the cell size; or square or hexagonal cells over a bounding box (--bbox). Streets and communities "
        "come from --units where given, else they are generated. The grid is checked (codes, no gaps, no "
        "overlaps, every cell within its unit and area, connected communities) and written only when it "
        "passes; the output format follows the file suffix (.geojson, .gpkg, .shp).",
    )
    g.add_argument("--demo", action="store_true", help="write the built-in Kaifeng demo grid")
    g.add_argument("--roads", metavar="FILE", help="road centre lines (GeoJSON, GeoPackage, Shapefile; other "
                   "geometries are skipped): cells are the street blocks")
    g.add_argument("--area", metavar="FILE", help="with --roads: the area to cover (its polygons); default: the union of --units")
    g.add_argument("--units", metavar="FILE", help="with --roads: districts, streets or communities (columns code, "
                   "name, optional district_name and street_name) that cells are put in")
    g.add_argument("--community-cells", type=float, default=8, metavar="N",
                   help="with --roads: cells in a generated community, about (default 8)")
    g.add_argument("--street-cells", type=float, default=60, metavar="N",
                   help="with --roads: cells in a generated street, about (default 60)")
    g.add_argument("--snap", type=float, default=20.0, metavar="M",
                   help="with --roads: a road ending at most M metres short of another meets it (default 20)")
    g.add_argument("--bbox", type=_bbox, metavar="W,S,E,N", help="bounding box in WGS84 degrees (use --bbox=... for a negative W)")
    g.add_argument("--cell-size", type=float, metavar="M", help="cell size in metres (hexagons: width across flats; "
                   "street blocks: 200 by default)")
    g.add_argument("--shape", choices=("square", "hex"), default="square", help="with --bbox (default square)")
    g.add_argument("--district", metavar="CODE", help="6-digit GB/T 2260 district code, e.g. 410204")
    g.add_argument("--district-name", default="", metavar="NAME")
    g.add_argument("--city-name", default="", metavar="NAME")
    g.add_argument("--streets", type=_blocks, default=(2, 2), metavar="CxR", help="street blocks across and down (default 2x2)")
    g.add_argument("--communities", type=_blocks, default=(2, 2), metavar="CxR", help="community blocks per street (default 2x2)")
    g.add_argument("-o", "--output", required=True, metavar="FILE")
    g.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    g.set_defaults(func=run_generate, parser=g)

    i = actions.add_parser(
        "import",
        help="validate a grid file and store it",
        description="Read a GeoJSON, GeoPackage or Shapefile grid, reproject it to WGS84, check every rule "
        "(codes, parents, geometry, overlaps, gaps) and, when it passes, make it the store's grid.",
    )
    i.add_argument("file", metavar="FILE")
    i.add_argument("--code-field", default="code", metavar="F", help="column holding the 15-digit cell codes")
    i.add_argument("--name-field", default="name", metavar="F", help="column holding cell names")
    i.add_argument("--layer", metavar="L", help="layer of a multi-layer file (GeoPackage)")
    i.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    _add_store_arguments(i)
    i.set_defaults(func=run_import)

    e = actions.add_parser("export", help="write the store's grid (or the configured one) to a file")
    e.add_argument("file", metavar="FILE", help="output file; .geojson/.json, .gpkg or .shp")
    _add_store_arguments(e)
    e.set_defaults(func=run_export)


def _summary(grid) -> dict:
    return {
        "cells": len(grid),
        "districts": len(grid.districts()),
        "streets": len(grid.streets()),
        "communities": len(grid.communities()),
        "bounds": list(grid.bounds) if len(grid) else None,
    }


def _describe(summary: dict) -> str:
    return (
        f"{summary['cells']} cells ({summary['districts']} district(s), {summary['streets']} street(s), "
        f"{summary['communities']} communit{'y' if summary['communities'] == 1 else 'ies'})"
    )


def run_generate(args, console) -> int:
    from twin.grid.checks import grid_violations
    from twin.grid.demo import demo_grid
    from twin.grid.files import export_grid
    from twin.grid.generate import generate_grid

    if args.demo:
        grid, checks = demo_grid(), {}
    elif args.roads:
        grid, checks = _street_grid(args)
    else:
        missing = [flag for flag, value in (("--bbox", args.bbox), ("--cell-size", args.cell_size), ("--district", args.district)) if value is None]
        if missing:
            args.parser.error(f"give {', '.join(missing)} (or --roads, or --demo)")
        grid = generate_grid(
            args.bbox,
            args.cell_size,
            shape=args.shape,
            district_code=args.district,
            district_name=args.district_name,
            streets=args.streets,
            communities=args.communities,
            city_name=args.city_name,
        )
        checks = {}
    violations = grid_violations(grid, **checks) if checks else []
    if violations:
        console.error(f"the generated grid breaks {len(violations)} rule(s); nothing was written")
        for violation in violations:
            console.error(violation)
        return 1
    path = export_grid(grid, args.output)
    summary = _summary(grid) | {"file": str(path), "shape": grid.meta.get("shape"), "cell_size_m": grid.meta.get("cell_size_m")}
    console.result(summary, f"wrote {_describe(summary)} to {path}")
    return 0


def _street_grid(args):
    """The street-block grid the arguments describe, and what to check it against."""
    import shapely

    from twin.grid.files import read_area, read_roads, read_units
    from twin.grid.streets import street_grid

    if not args.area and not args.units:
        args.parser.error("--roads needs --area or --units (the area the grid covers)")
    if args.bbox:
        args.parser.error("--roads and --bbox do not go together: the area comes from --area or --units")
    units = read_units(args.units) if args.units else []
    area = read_area(args.area) if args.area else shapely.union_all([u.geometry for u in units])
    grid = street_grid(read_roads(args.roads), area, cell_size_m=args.cell_size or 200.0, units=units,
                       district_code=args.district, district_name=args.district_name, city_name=args.city_name,
                       community_cells=args.community_cells, street_cells=args.street_cells, snap_m=args.snap)
    return grid, {"area": area, "units": units, "connected_communities": True}


def run_import(args, console) -> int:
    from twin.devices.registry import relocate_devices
    from twin.grid.files import import_grid
    from twin.store import open_store

    settings = load_settings(args.config)
    try:
        grid = import_grid(args.file, code_field=args.code_field, name_field=args.name_field, layer=args.layer)
    except GridValidationError as exc:
        console.error(f"{args.file}: {len(exc.violations)} violation(s); nothing was imported")
        for violation in exc.violations:
            console.error(violation)
        return 1
    url = args.store or settings.store.url
    with open_store(url) as store:
        store.migrate()
        store.put_grid(grid)
        moved, outside = relocate_devices(store, grid)
    summary = _summary(grid) | {"file": args.file, "store": url, "devices_moved": moved, "devices_outside": outside}
    if outside:
        console.error(
            f"{len(outside)} registered fixed device(s) are outside the new grid and have no cell: "
            f"{', '.join(outside[:20])}{' ...' if len(outside) > 20 else ''}"
        )
    console.result(summary, f"imported {_describe(summary)} from {args.file} into {url}"
                   + (f"; {moved} device(s) changed cell" if moved else ""))
    return 0


def run_export(args, console) -> int:
    from twin.grid.files import export_grid
    from twin.grid.source import configured_grid
    from twin.store import open_store

    settings = load_settings(args.config)
    url = args.store or settings.store.url
    with open_store(url) as store:
        store.migrate()
        grid = store.load_grid()
    origin = f"store {url}"
    if grid is None:
        grid = configured_grid(settings)
        origin = f"configured grid {settings.grid.source!r} (the store {url} has none)"
    path = export_grid(grid, args.file)
    console.print(f"exported {_describe(_summary(grid))} from {origin} to {path}")
    return 0
