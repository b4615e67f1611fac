"""Faults with real processes, small: a gateway killed with SIGKILL, the broker restarted, the
database taken away (PostgreSQL stopped, SQLite locked). Each counts what was sent, stored, lost
and stored twice, and prints it; `python -m bench faults` runs the same scenarios at full size
(docs/reliability.md)."""

from __future__ import annotations

import json

from bench.faults import broker_restart, db_down, kill9


def report(figures: dict) -> None:
    print(json.dumps(figures, sort_keys=True))
    assert figures["sent"] > 0
    assert (figures["lost"], figures["stored_twice"], figures["incomplete"]) == (0, 0, 0), figures
    assert figures["stored"] == figures["sent"] and figures["dead_letters"] == 0


async def test_a_gateway_killed_under_load_loses_nothing_and_stores_nothing_twice(tmp_path):
    figures = await kill9(tmp_path, rate=1000, seconds=4, devices=100, kills=1, down_s=1.0)
    report(figures)
    (stored_at_kill,) = figures["stored_at_each_kill"]
    assert 0 < stored_at_kill < figures["sent"]  # killed mid-run, with readings still to come
    # The restarted gateway (same client id: the persistent session) stored the rest.
    assert figures["gateway_after_restart"]["messages"] > 0


async def test_after_a_broker_restart_gateway_simulator_and_web_app_reconnect_by_themselves(tmp_path):
    figures = await broker_restart(tmp_path, devices=100, interval=0.5, seconds=10, down_s=2.0)
    report(figures)
    assert figures["sim_reconnects"] >= 100 and figures["sim_dropped"] == 0
    assert figures["gateway_reconnects"] >= 1
    assert figures["stored_after_restart"] > 0  # readings sent after the restart reached the store
    assert figures["web_feed_messages_after_restart"] > 0  # the live feed is subscribed again


async def test_postgres_down_spools_keeps_the_wall_live_and_replays_in_order(tmp_path):
    figures = await db_down(tmp_path, rate=500, down_s=6, devices=100, before_s=3, after_s=3)
    report(figures)
    assert figures["spool"]["outages"] == 1  # noticed and spooled without a restart
    assert figures["order_violations"] == 0
    spool = figures["spool"]
    assert spool["outages"] == 1 and spool["batches_spooled_total"] > 0
    assert spool["batches_replayed_total"] == spool["batches_spooled_total"] and figures["spool_files_left"] == 0
    assert spool["full_events"] == 0 and not figures["full_logged_at_error"]
    assert figures["status_spool_max"]["spooled_batches"] > 0  # shown in the gateway's status on MQTT
    # Live state kept going while the database was away: on MQTT and on an open map page's stream.
    assert figures["live_during_outage"]["mqtt"]["cell_states"] > 0
    assert figures["live_during_outage"]["web_stream"]["cells"] > 0


async def test_a_gateway_killed_while_it_holds_a_spool_replays_it_after_its_restart(tmp_path):
    # PostgreSQL down 8 s; the gateway SIGKILLed at 6 s with acknowledged batches only in its spool,
    # started again once the database is back: the spool from before the kill is replayed first.
    figures = await db_down(tmp_path, rate=500, down_s=8, devices=100, before_s=2, after_s=2, kill=True)
    report(figures)
    assert figures["killed_with_spooled_batches"] > 0
    assert figures["order_violations"] == 0 and figures["spool_files_left"] == 0
    assert figures["spool"]["batches_replayed_total"] >= figures["killed_with_spooled_batches"]


async def test_a_locked_sqlite_store_and_a_full_spool_hold_messages_at_the_broker(tmp_path):
    # Locked longer than the store's busy timeout (10 s), so writes fail; the spool is tiny, so it
    # fills and the gateway stops acknowledging until the replay has made room.
    figures = await db_down(tmp_path, rate=500, down_s=12, devices=100, before_s=2, after_s=2, spool_mb=0.05,
                            store="sqlite")
    report(figures)
    assert figures["order_violations"] == 0
    spool = figures["spool"]
    assert spool["outages"] == 1 and spool["batches_spooled_total"] > 0 and figures["spool_files_left"] == 0
    assert spool["full_events"] >= 1 and spool["held_seconds"] > 0
    assert figures["full_logged_at_error"]
    assert figures["status_spool_max"]["full_events"] >= 1  # and counted in its status on MQTT
