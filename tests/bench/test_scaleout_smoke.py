"""`python -m bench scaleout` on a small stream: both configurations store every reading once and
the group of two shares the stream (the figures themselves are the benchmark's, not a test's)."""

from __future__ import annotations

from bench.scaleout import measure


async def test_one_and_two_gateways_store_every_reading_once(postgres_server):
    r = await measure(messages=2000, devices=200, runs=1, cluster=postgres_server)
    assert r["lost"] == 0 and r["duplicates_stored"] == 0
    assert r["one_gateway"]["shares"] == [[2000]]
    (first, second), = r["two_gateways"]["shares"]
    assert first > 0 and second > 0 and first + second == 2000
    assert len(r["two_gateways"]["member_cpu_us_per_msg"]) == 2
