"""The clock that follows the stream: "now" from the devices' own timestamps, robust to a device
whose clock runs ahead, never going back; with it the pipeline judges stale and future readings
by the data's time, not the machine's."""

from __future__ import annotations

import orjson

from gateway.messages import Decoded, Observation
from gateway.pipeline import Pipeline
from gateway.streamclock import StreamClock
from mqttwire.packets import Inbound
from tests.gateway.conftest import DEVICES, small_grid
from twin.config import Settings

T0 = 1_577_836_800.0  # 2020-01-01: years before the machine's clock


def batch(*items: tuple[str, float]) -> Decoded:
    return Decoded(observations=[Observation(device, ts, {"pm25": 1.0}, "t", b"{}") for device, ts in items])


def test_now_is_a_high_quantile_of_each_devices_latest_time():
    clock = StreamClock()
    clock.observe(batch(*[(f"d{i}", T0 + i) for i in range(20)]))
    assert clock() == T0 + 18  # the 0.9 quantile of 20 devices' latest
    clock.observe(batch(("d0", T0 + 3600)))  # one clock an hour ahead does not move it much
    assert clock() == T0 + 19
    clock.observe(batch(("d5", T0 - 600)))  # an old reading (a backlog) does not move it back
    assert clock() == T0 + 19
    clock.set(T0 + 60)
    assert clock() == T0 + 60 and clock.now() == T0 + 60
    clock.set(T0)
    assert clock() == T0 + 60  # never back


def test_before_any_data_it_says_the_wall_clock_or_where_it_was_told_to_start():
    import time

    assert abs(StreamClock()() - time.time()) < 5
    assert StreamClock(start=T0)() == T0


def test_the_pipeline_judges_time_by_the_stream():
    settings = Settings().replace(gateway={"max_future_s": 300})
    pipeline = Pipeline(settings, small_grid(), {d.id: d for d in DEVICES})
    clock = StreamClock()
    clock.observe(batch(*[(f"other-{i}", T0 + i % 3) for i in range(10)]))  # the rest of the fleet, on time
    prefix = settings.mqtt.prefix

    def message(device: str, ts: float) -> Inbound:
        return Inbound(f"{prefix}/readings/{device}", orjson.dumps({"ts": ts, "values": {"pm25": 20.0}}), T0)

    decoded = pipeline.decode([message("aq-1", T0), message("aq-2", T0 + 5), message("aq-1", T0 + 1200)])
    clock.observe(decoded)
    outcome = pipeline.resolve(decoded, clock())
    # Six years old by the wall clock, and stored; 20 minutes ahead of the stream, and refused.
    assert [(r.device_id, r.ts) for r in outcome.readings] == [("aq-1", T0), ("aq-2", T0 + 5)]
    assert [d.reason for d in outcome.dead_letters] == ["future_timestamp"]
