"""The benchmarks run end to end at tiny sizes and report what they measured.

No timing is asserted (speed is what `python -m bench NAME` reports); these check that each
benchmark runs against the real broker, database and browser, and that its figures are
consistent: the baselines agree with ours where they must, and counts add up.
"""

from __future__ import annotations

import json

from bench import lookup, store


def test_lookup_agrees_with_sjoin_and_postgis(postgres_server):
    r = lookup.measure([300], 3000, 1, ["square", "hex"], cluster=postgres_server)
    assert [x["path"] for x in r["results"]] == ["lattice", "raster"]
    for x in r["results"]:
        assert 0 < x["inside"] < x["points"]  # the points reach outside the grid too
        assert x["disagree_sjoin"] == 0
        assert x["disagree_postgis"] == 0
        assert x["ours_points_per_s"] > 0 and x["sjoin_points_per_s"] > 0 and x["postgis_points_per_s"] > 0


def test_store_writes_and_history_queries(postgres_server):
    r = store.measure(400, 1, 0.25, 1, ("sqlite", "postgres"), cluster=postgres_server)
    steps = int(0.25 * 86_400 / store.QUERY_INTERVAL_S)
    for backend in ("sqlite", "postgres"):
        w, q = r[backend]["write"], r[backend]["queries"]
        assert w["rows_per_s"] > 0 and w["ratio"] > 0
        assert q["rows"] == steps * store.QUERY_DEVICES * len(store.METRICS)
        assert q["cell_day_rows"] == steps * store.QUERY_DEVICES // store.QUERY_CELLS  # two devices in the cell
        assert q["cell_hourly_buckets"] == q["district_hourly_buckets"] == 6  # 6 hours ending on the hour
    assert "baseline_psql_copy_rows_per_s" in r["postgres"]["write"]


def test_json_mode_prints_one_object_last(capsys):
    assert lookup.main(["--cells", "200", "--points", "500", "--runs", "1", "--shapes", "hex", "--no-postgis",
                        "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last)["benchmark"] == "lookup"
