"""`gridtwin grid ...` and `gridtwin devices ...` end to end: real files, a real SQLite store."""

from __future__ import annotations

import json
import os

import pytest
import shapely
import shapely.geometry

import gridtwin.cli as cli
from tests.common import SMALL_BBOX, small_square_grid
from tests.twin.grid.test_files import broken_frame
from twin.grid.cells import Grid
from twin.grid.demo import demo_grid
from twin.grid.files import export_grid, grid_to_frame, import_grid
from twin.store import open_store

GRID = small_square_grid()


@pytest.fixture
def run(monkeypatch, capsys):
    """Run `gridtwin ARGS...` in-process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(cli, "COMMANDS", ("grid", "devices"))
    for name in list(os.environ):
        if name.startswith("GRIDTWIN_"):
            monkeypatch.delenv(name)

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            status = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/twin.db"


def stored_grid(url: str):
    with open_store(url) as store:
        store.migrate()
        return store.load_grid()


# -- grid generate ----------------------------------------------------------------------
def test_generate_square_grid(run, tmp_path):
    out = tmp_path / "g.geojson"
    bbox = ",".join(map(str, SMALL_BBOX))
    status, stdout, _ = run("grid", "generate", "--bbox", bbox, "--cell-size", 200, "--district", "410204",
                            "--district-name", "Gulou District 鼓楼区", "--streets", "2x1", "--communities", "2x2",
                            "-o", out)
    assert status == 0
    grid = import_grid(out)
    assert [c.code for c in grid.cells] == [c.code for c in GRID.cells]
    assert grid.cells[0].district_name == "Gulou District 鼓楼区"
    assert stdout.strip() == f"wrote 60 cells (1 district(s), 2 street(s), 8 communities) to {out}"


def test_generate_hex_grid_as_json(run, tmp_path):
    out = tmp_path / "hex.gpkg"
    status, stdout, _ = run("grid", "generate", "--bbox=114.34,34.785,114.36,34.795", "--cell-size", 300,
                            "--shape", "hex", "--district", "410205", "-o", out, "--json")
    assert status == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["shape"] == "hex" and summary["cell_size_m"] == 300
    assert summary["cells"] == len(import_grid(out)) > 0


def test_generate_demo_grid(run, tmp_path):
    out = tmp_path / "demo.shp"
    status, _, _ = run("grid", "generate", "--demo", "-o", out)
    assert status == 0
    assert [c.code for c in import_grid(out).cells] == [c.code for c in demo_grid().cells]


def feature_file(path, *features) -> str:
    """A GeoJSON file of (geometry, properties) pairs."""
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": shapely.geometry.mapping(g), "properties": p} for g, p in features]}),
        encoding="utf-8")
    return str(path)


ROADS = [(shapely.LineString([(114.345, 34.784), (114.345, 34.796)]), {"name": "north-south"}),
         (shapely.LineString([(114.339, 34.79), (114.361, 34.79)]), {"name": "east-west"}),
         (shapely.Point(114.35, 34.79), {"name": "a landmark: not a road"})]


def test_generate_street_grid_from_roads_and_units(run, tmp_path):
    west, east = shapely.box(114.34, 34.785, 114.345, 34.795), shapely.box(114.345, 34.785, 114.36, 34.795)
    units = feature_file(tmp_path / "units.geojson",
                         (west, {"code": "410204005", "name": "Xisimen Subdistrict 西司门街道",
                                 "district_name": "Gulou District 鼓楼区"}),
                         (east, {"code": "410204001", "name": "Xiangguosi Subdistrict 相国寺街道",
                                 "district_name": "Gulou District 鼓楼区"}))
    out = tmp_path / "streets.gpkg"
    status, stdout, _ = run("grid", "generate", "--roads", feature_file(tmp_path / "roads.geojson", *ROADS),
                            "--units", units, "--cell-size", 200, "-o", out, "--json")
    assert status == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    grid = import_grid(out)  # a file import checks it once more
    assert summary["cells"] == len(grid) and summary["shape"] == "streets"
    assert grid.streets() == {"410204001": "Xiangguosi Subdistrict 相国寺街道", "410204005": "Xisimen Subdistrict 西司门街道"}
    assert grid.locate(114.342, 34.79).startswith("410204005") and grid.locate(114.35, 34.792).startswith("410204001")


def test_generate_street_grid_reports_an_area_no_unit_covers(run, tmp_path):
    area = feature_file(tmp_path / "area.geojson", (shapely.box(114.34, 34.785, 114.36, 34.795), {}))
    units = feature_file(tmp_path / "units.geojson", (shapely.box(114.34, 34.785, 114.345, 34.795), {"code": "410204005"}))
    out = tmp_path / "x.geojson"
    status, _, err = run("grid", "generate", "--roads", feature_file(tmp_path / "roads.geojson", *ROADS),
                         "--area", area, "--units", units, "-o", out)
    assert status == 2 and "is in no unit: give units that cover the area, or a district code for the rest" in err
    assert not out.exists()
    status, stdout, _ = run("grid", "generate", "--roads", tmp_path / "roads.geojson", "--area", area, "--units", units,
                            "--district", "410204", "-o", out)  # the rest goes to the district
    assert status == 0 and "2 street(s)" in stdout


@pytest.mark.parametrize(
    "args, status, fragment",
    [
        (["--cell-size", "200", "--district", "410204"], 2, "give --bbox"),  # no bbox and no --demo
        (["--roads", "roads.geojson"], 2, "--roads needs --area or --units"),  # no area for the roads
        (["--bbox", "1,2,3", "--cell-size", "200", "--district", "410204"], 2, "W,S,E,N"),  # three numbers
        (["--bbox", "114.34,34.785,114.36,34.795", "--cell-size", "200", "--district", "410204",
          "--streets", "2by2"], 2, "COLSxROWS"),  # bad block count
        (["--bbox", "114.34,34.785,114.36,34.795", "--cell-size", "200", "--district", "410200"], 2,
         "county part is 00"),  # a city code, refused by the generator
    ],
)
def test_generate_refuses_bad_arguments(run, tmp_path, args, status, fragment):
    code, _, err = run("grid", "generate", *args, "-o", tmp_path / "x.geojson")
    assert code == status
    assert fragment in err
    assert not (tmp_path / "x.geojson").exists()


# -- grid import / export -----------------------------------------------------------------
def test_import_stores_the_grid(run, tmp_path, url):
    path = export_grid(GRID, tmp_path / "cells.gpkg")
    status, stdout, _ = run("grid", "import", path, "--store", url)
    assert status == 0
    assert f"imported 60 cells (1 district(s), 2 street(s), 8 communities) from {path} into {url}" in stdout
    assert [c.code for c in stored_grid(url).cells] == [c.code for c in GRID.cells]


def test_import_reports_every_violation_and_stores_nothing(run, tmp_path, url):
    path = tmp_path / "broken.geojson"
    broken_frame().to_file(path)
    status, stdout, err = run("grid", "import", path, "--store", url)
    assert status == 1
    lines = err.strip().splitlines()
    assert lines[0] == f"error: {path}: 15 violation(s); nothing was imported"
    assert len(lines) == 16
    assert "error: code 410204001001001 is used by 2 cells (rows 1, 3)" in lines
    assert any(line.startswith("error: gap of ") for line in lines)
    assert stdout == ""
    assert stored_grid(url) is None


def test_import_with_field_names_and_layer(run, tmp_path, url):
    path = tmp_path / "cells.gpkg"
    grid_to_frame(GRID).rename(columns={"code": "GRIDCODE", "name": "LABEL"}).to_file(path, layer="grid2025")
    status, _, _ = run("grid", "import", path, "--code-field", "GRIDCODE", "--name-field", "LABEL",
                       "--layer", "grid2025", "--store", url)
    assert status == 0
    assert stored_grid(url).cells[0].name == GRID.cells[0].name


def test_import_moves_registered_devices(run, tmp_path, url):
    assert run("devices", "add", "aq-1", "--kind", "sensor", "--lat", 34.7939, "--lon", 114.3405, "--store", url)[0] == 0
    assert stored_grid(url).meta["city"] == "Kaifeng 开封市"  # the demo grid was stored on first use
    path = export_grid(GRID, tmp_path / "cells.geojson")
    status, stdout, _ = run("grid", "import", path, "--store", url)
    assert status == 0 and "1 device(s) changed cell" in stdout
    with open_store(url) as store:
        assert store.get_device("aq-1").cell_code == GRID.locate(114.3405, 34.7939)
    far = export_grid(Grid([GRID.cells[-1]]), tmp_path / "one.geojson")
    status, _, err = run("grid", "import", far, "--store", url)
    assert status == 0
    assert "1 registered fixed device(s) are outside the new grid and have no cell: aq-1" in err


def test_export_from_the_store_or_the_configuration(run, tmp_path, url):
    config = tmp_path / "gridtwin.toml"
    config.write_text(f'[store]\nurl = "{url}"\n[grid]\nsource = "demo"\n', encoding="utf-8")
    status, stdout, _ = run("grid", "export", tmp_path / "a.geojson", "--config", config)
    assert status == 0 and "from configured grid 'demo'" in stdout
    assert len(import_grid(tmp_path / "a.geojson")) == len(demo_grid())
    assert stored_grid(url) is None  # exporting does not write the store
    run("grid", "import", export_grid(GRID, tmp_path / "cells.gpkg"), "--config", config)
    status, stdout, _ = run("grid", "export", tmp_path / "b.shp", "--config", config)
    assert status == 0 and f"from store {url}" in stdout
    assert [c.code for c in import_grid(tmp_path / "b.shp").cells] == [c.code for c in GRID.cells]


# -- devices --------------------------------------------------------------------------------
def test_devices_add(run, url):
    status, stdout, _ = run("devices", "add", "aq-1", "--kind", "sensor", "--lat", 34.7939, "--lon", 114.3405,
                            "--metrics", "pm25,noise_db", "--model", "AQ-200", "--name", "North gate", "--store", url)
    code = demo_grid().locate(114.3405, 34.7939)
    assert status == 0
    assert stdout.startswith(f"registered sensor aq-1 in cell {code} (Gulou District 鼓楼区 > ")
    with open_store(url) as store:
        device = store.get_device("aq-1")
    assert (device.cell_code, device.metrics, device.model, device.name) == (code, ("pm25", "noise_db"), "AQ-200", "North gate")
    status, stdout, _ = run("devices", "add", "rider-1", "--kind", "sensor", "--mobile", "--store", url)
    assert status == 0 and "mobile, located with every reading" in stdout
    status, stdout, _ = run("devices", "add", "aq-1", "--kind", "sensor", "--lat", 34.7939, "--lon", 114.3405, "--store", url)
    assert stdout.startswith("updated sensor aq-1")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["far-1", "--kind", "sensor", "--lat", "34.5", "--lon", "114.3"], "is outside every grid cell"),  # outside
        (["aq-2", "--kind", "sensor", "--lat", "34.79", "--lon", "114.34", "--metrics", "pm2.5"],
         "unknown metric(s) pm2.5"),  # not in the metric catalog
        (["aq-3", "--kind", "sensor"], "is fixed and has no location"),  # no location
        (["a/b", "--kind", "camera", "--mobile"], "device id 'a/b' is invalid"),  # unusable id
    ],
)
def test_devices_add_refusals(run, url, args, fragment):
    status, stdout, err = run("devices", "add", *args, "--store", url)
    assert status == 1
    assert fragment in err and err.startswith("error: ")
    with open_store(url) as store:
        assert store.list_devices() == []


CSV = """id,kind,model,metrics,lat,lon,mobile,name
aq-1,sensor,AQ,pm25,34.7939,114.3405,,a
aq-2,sensor,AQ,pm2.5,34.7939,114.3405,,b
far-1,sensor,AQ,pm25,34.5,114.3,,c
cam-1,camera,IPC,,34.7850,114.3650,,d
rider-1,sensor,R,noise_db,,,true,e
"""


def test_devices_import_and_list(run, tmp_path, url):
    path = tmp_path / "devices.csv"
    path.write_text(CSV, encoding="utf-8")
    status, stdout, err = run("devices", "import", path, "--store", url)
    assert status == 1
    assert f"error: {path} line 3: unknown metric(s) pm2.5" in err
    assert f"error: {path} line 4: device far-1 at lat 34.500000, lon 114.300000 is outside every grid cell" in err
    assert "registering" in err  # the progress bar
    assert f"registered 3 of 5 device row(s) from {path}; 2 row(s) failed" in stdout

    status, stdout, _ = run("devices", "list", "--store", url)
    assert status == 0
    rows = stdout.strip().splitlines()
    assert rows[0].split() == ["ID", "KIND", "STATUS", "CELL", "LAT", "LON", "METRICS", "NAME"]
    assert [r.split()[0] for r in rows[1:-1]] == ["aq-1", "cam-1", "rider-1"]
    assert rows[-1] == "3 device(s)"
    assert "mobile" in rows[3]

    status, stdout, _ = run("devices", "list", "--json", "--store", url)
    listing = json.loads(stdout.strip().splitlines()[-1])
    assert listing["count"] == 3
    cam = next(d for d in listing["devices"] if d["id"] == "cam-1")
    assert cam["kind"] == "camera" and cam["cell_code"] == demo_grid().locate(114.365, 34.785)

    status, stdout, _ = run("devices", "list", "--json", "--cell", cam["cell_code"], "--store", url)
    assert [d["id"] for d in json.loads(stdout)["devices"]] == ["cam-1"]
    status, stdout, _ = run("devices", "list", "--json", "--status", "online", "--store", url)
    assert json.loads(stdout) == {"count": 0, "devices": []}


def test_devices_import_all_good(run, tmp_path, url):
    path = tmp_path / "devices.csv"
    path.write_text("id,kind,lat,lon\naq-1,sensor,34.7939,114.3405\n", encoding="utf-8")
    status, stdout, err = run("devices", "import", path, "--store", url)
    assert status == 0
    assert "registered 1 of 1 device row(s)" in stdout
    assert "error" not in err
