"""The benchmarks run end to end at tiny sizes and report what they measured.

No timing is asserted (speed is what `python -m bench NAME` reports); these check that each
benchmark runs against the real broker, database and browser, and that its figures are
consistent: the baselines agree with ours where they must, and counts add up.
"""

from __future__ import annotations

import json

import pytest

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


def test_map_first_render_weight_and_updates():
    from bench import map as map_bench

    r = map_bench.measure(300, 100, 1.0, 1)
    assert r["cells"] >= 300 and r["first_render_ms"] > 0 and r["baseline_fetch_parse_ms"] > 0
    assert r["page_bytes"]["js"] > 0 and r["page_bytes"]["data"] > 0 and r["page_bytes"]["html"] > 0
    assert r["sent"] == 100
    assert r["baseline_received"] == r["sent"]  # QoS 1 on a quiet broker: the plain subscriber gets them all
    assert 0 < r["page_received"] <= r["sent"] and r["dropped"] == r["sent"] - r["page_received"]
    assert r["page_applied"] <= r["page_received"]


def test_memory_of_gateway_and_web_app():
    from bench import memory

    r = memory.measure(200, 2, 400.0)
    assert r["published"] == 400
    assert r["stored_rows"] == 400 * 2  # every reading of every device stored, two metrics each
    for name in ("gateway", "web_app", "bare_gateway_imports", "bare_web_imports", "bare_subscriber"):
        assert 0 < r["rss"][name]["steady_mb"] <= r["rss"][name]["peak_mb"]


def test_all_writes_its_table_between_the_markers(tmp_path):
    from bench import all as all_bench

    doc = tmp_path / "performance.md"
    doc.write_text(f"# Performance\n\nprose before\n\n{all_bench.START}\nold table\n{all_bench.END}\n\nprose after\n")
    assert all_bench.main(["--quick", "--only", "lookup", "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Performance\n\nprose before\n\n") and text.endswith("\n\nprose after\n")
    table = text.split(all_bench.START)[1].split(all_bench.END)[0]
    assert "old table" not in table
    assert "| lookup, " in table and "square cells (lattice)" in table and "failed" not in table
    doc.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="expected one"):
        all_bench.write_doc(doc, "table")


@pytest.mark.parametrize("queued", [False, True], ids=["live", "queued"])
async def test_hostile_throughput_keeps_every_clean_reading(queued):
    from bench.hostile.measure import throughput

    r = await throughput(messages=1500, runs=1, share=0.1, seed=3, queued=queued)
    assert r["mode"] == ("queued" if queued else "live")
    assert r["clean_lost"] == 0 and r["gateway_up"] and r["hostile_as_expected"]
    assert r["hostile_published"] == r["hostile_cases"] > 100  # the hostile stream went out in full
    assert r["clean_rate"] > 0 and r["mixed_clean_rate"] > 0
    assert r["retained"] == pytest.approx(r["mixed_clean_rate"] / r["clean_rate"], abs=0.002)


def test_mutation_results_are_counted_by_module():
    from bench import mutation

    listing = ["    twin.cases.x_transition__mutmut_1: killed", "    twin.cases.x_transition__mutmut_2: survived",
               "    twin.cases.x_new_case__mutmut_3: timeout", "    gateway.wire.xǁNativeTransportǁack__mutmut_1: killed",
               "    gateway.wire.xǁNativeTransportǁack__mutmut_2: not checked", "    twin.limits.x_f__mutmut_1: segfault"]
    counts = mutation.counts_by_module(listing)
    assert dict(counts["twin.cases"]) == {"killed": 1, "survived": 1, "timeout": 1}
    assert dict(counts["gateway.wire"]) == {"killed": 1, "not checked": 1}
    assert dict(counts["twin.limits"]) == {"other": 1}
    assert mutation.score(counts["twin.cases"]) == round(2 / 3, 3)  # a timeout counts as caught
    assert mutation.score(counts["twin.limits"]) is None  # nothing tested
