"""Device-health alerts are a category of their own: stored and published with it, never made
into cases, and not counted in a cell's level."""

from __future__ import annotations

import asyncio
import contextlib

from gateway.casedesk import CaseDesk
from gateway.livestate import LiveState
from tests.gateway.conftest import A, small_grid
from twin.cases.book import CaseBook
from twin.cases.workflow import CaseQuery
from twin.config import Settings
from twin.sensing.anomalies import DEVICE_HEALTH, Anomaly
from twin.sensing.catalog import Level
from twin.store import open_store

T0 = 1_795_939_200.0


def anomaly(id_: str, category: str = "incident", **kw) -> Anomaly:
    fields = dict(id=id_, type="water_level_cm_high", status="opened", severity=Level.CRITICAL, cell_code=A,
                  device_id="wl-1", detector="threshold", ts=T0, explanation="water level 42 cm",
                  metric="water_level_cm", value=42.0, category=category)
    return Anomaly(**(fields | kw))


def stuck(id_: str = "h-1") -> Anomaly:
    return anomaly(id_, DEVICE_HEALTH, type="sensor_stuck", detector="flatline", severity=Level.WARNING)


def test_the_case_book_opens_cases_for_incidents_only(tmp_path):
    settings = Settings()
    with open_store(f"sqlite:///{tmp_path}/twin.db") as store:
        store.migrate()
        store.put_grid(small_grid())
        store.write_anomalies([stuck(), anomaly("i-1")])
        book = CaseBook(store, small_grid(), settings.cases, settings.responsibility)
        changed = book.take_anomalies([stuck(), anomaly("i-1")])
        assert [c.type for c in changed] == ["water_level_cm_high"]
        cases, total = store.find_cases(CaseQuery())
        assert total == 1 and store.case_anomaly_ids(cases[0].id) == ["i-1"]
        assert store.cases_of_anomalies(["h-1"]) == {}


async def test_the_case_desk_skips_health_alerts(tmp_path):
    settings = Settings().replace(store={"url": f"sqlite:///{tmp_path}/twin.db"}, cases={"relay_interval_s": 0.02})
    published: list[str] = []
    with open_store(settings.store.url) as store:
        store.migrate()
        store.put_grid(small_grid())
        desk = CaseDesk(settings, store, small_grid(), lambda topic, payload, qos=1: published.append(topic),
                        source="test")
        task = asyncio.create_task(desk.run())
        try:
            while desk.cursor is None:
                await asyncio.sleep(0.01)
            health = [stuck(f"h-{i}") for i in range(3)]
            store.write_anomalies(health)
            await asyncio.to_thread(desk.intake, health)
            await asyncio.sleep(0.1)
            assert store.find_cases(CaseQuery())[1] == 0 and published == []
            store.write_anomalies([anomaly("i-1")])
            await asyncio.to_thread(desk.intake, [anomaly("i-1")])
            for _ in range(100):
                if published:
                    break
                await asyncio.sleep(0.02)
            assert store.find_cases(CaseQuery())[1] == 1 and len(published) == 1
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def test_health_alerts_do_not_raise_the_cell_level():
    live = LiveState()
    live.observe(A, "water_level_cm", 42.0, T0)
    live.apply(stuck())
    assert live.level(A) == Level.NORMAL and live.state(A).open_anomalies == 0
    live.apply(anomaly("i-1"))
    assert live.level(A) == Level.CRITICAL
