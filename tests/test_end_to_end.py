"""End to end on real parts: simulated devices -> Mosquitto -> gateway -> SQLite store; the anomaly
event reaches a subscriber and the web app serves the cell's new state."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from firmware_sim import Incident, Simulator, make_fleet
from gateway import Gateway
from maps.app import create_app
from tests.gateway.conftest import Recorder, wait_until
from twin.config import Settings
from twin.contract import schemas
from twin.devices.registry import register_devices
from twin.grid.generate import generate_grid
from twin.store import open_store


async def test_simulator_to_gateway_to_store_to_subscriber_and_web(mosquitto, tmp_path):
    grid = generate_grid((114.33, 34.78, 114.345, 34.79), 400, district_code="410204",
                         district_name="Gulou District", streets=(2, 1), communities=(1, 1))
    store = open_store(f"sqlite:///{tmp_path}/twin.db")
    store.migrate()
    store.put_grid(grid)
    fleet = make_fleet(grid, sensors=60, cameras=4, seed=3)
    report = register_devices(store, grid, fleet)
    assert report.ok and len(report.accepted) == 64

    # An air-pollution incident in a cell that has an air-quality sensor.
    target = next(d for d in fleet if "pm25" in d.metrics)
    incident = Incident("air_pollution", target.cell_code, time.time() + 1.0, time.time() + 120.0, magnitude=1.6)

    prefix = f"e2e{uuid.uuid4().hex[:6]}/v1"
    settings = Settings().replace(
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": prefix, "client_id": f"gw-{uuid.uuid4().hex[:6]}"},
        store={"url": store.url},
        gateway={"state_publish_interval": 0.2},
    )
    events = Recorder(mosquitto, f"{prefix}/events/#")
    try:
        async with Gateway(settings, store, grid) as gw:
            stop = asyncio.Event()
            gw_task = asyncio.create_task(gw.run(stop))
            async with Simulator(settings.mqtt, fleet, interval=0.5, incidents=[incident], grid=grid, seed=3) as sim:
                sim_task = asyncio.create_task(sim.run())
                # PM10 may first cross only its warning threshold: wait for the critical alarm itself.
                hits = await events.wait_for(
                    lambda t, p: p["data"]["cell"]["code"] == target.cell_code and p["data"]["status"] == "opened"
                    and p["data"]["metric"] in ("pm25", "pm10") and p["data"]["severity"] == "critical", timeout=20)
                sim.stop()
                stats = await sim_task
            topic, event = hits[0]
            schemas.validate("anomaly-cloudevent", event)
            assert topic.startswith(f"{prefix}/events/410204/{target.cell_code}/")
            assert event["data"]["severity"] == "critical"
            await wait_until(lambda: store.count_readings() > 0 and store.cell_states().get(target.cell_code)
                             is not None and store.cell_states()[target.cell_code].level.label == "critical",
                             what="critical state stored")
            stop.set()
            await gw_task
    finally:
        events.close()

    assert stats.readings > 0
    devices_reporting = {r.device_id for r in store.readings(limit=100_000)}
    assert len(devices_reporting) >= 55  # nearly every sensor reported at least once

    app = create_app(settings, store=store, grid=grid)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            response = await client.get(f"/api/cells/{target.cell_code}")
    assert response.status_code == 200
    feature = response.json()
    assert feature["properties"]["code"] == target.cell_code
    assert feature["properties"]["level"] == "critical"
    store.close()
