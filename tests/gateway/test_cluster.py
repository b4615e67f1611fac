"""A group of gateways, piece by piece: settings, shared filters, hand-offs, the merge's order,
and records replayed on member 0 judging as one gateway would (the processes together:
tests/test_scaleout.py)."""

from __future__ import annotations

import logging

import pytest

from firmware_sim.player import ScenarioPlayer
from firmware_sim.scenarios import build_world, loads_scenario
from gateway import handoff
from gateway.cluster import GroupLink, Membership
from gateway.handoff import (
    HANDOFF_VERSION,
    Handoff,
    HandoffError,
    HandoffVersionError,
    ObserveRecord,
    ReadingRecord,
    StatusRecord,
)
from gateway.judge import Recorder
from gateway.merge import Merge
from gateway.pipeline import Pipeline
from gateway.streamclock import StreamClock
from gridtwin.evaluation.run import DirectLink
from mqttwire.packets import Inbound
from tests.gateway.conftest import small_grid
from twin.config import GatewaySettings, Settings
from twin.errors import ConfigError


@pytest.mark.parametrize("values, message", [
    ({"members": 2}, "gateway.group is empty"),  # several members need a group to share
    ({"group": "a/b"}, "one MQTT topic level"),  # the group is a topic level
    ({"group": "g", "members": 2, "member_index": 2}, "member_index must be 0..1"),
    ({"members": 0}, "1 or more"),
    ({"clock": "sundial"}, "gateway.clock"),
    ({"group_delay_s": -1}, "group_delay_s"),
])
def test_group_settings_are_checked(values, message):
    with pytest.raises(ConfigError, match=message):
        GatewaySettings(**values)


def test_members_subscribe_shared_and_member_0_also_to_the_hand_offs():
    inbound = ["p/v1/readings/#", "p/v1/status/#"]
    first = Membership(GatewaySettings(group="g", members=2), "p/v1")
    second = Membership(GatewaySettings(group="g", members=2, member_index=1), "p/v1")
    alone = Membership(GatewaySettings(), "p/v1")
    assert first.subscriptions(inbound) == ("$share/g/p/v1/readings/#", "$share/g/p/v1/status/#", "p/v1/cluster/g/judge")
    assert second.subscriptions(inbound) == ("$share/g/p/v1/readings/#", "$share/g/p/v1/status/#")
    assert alone.subscriptions(inbound) == tuple(inbound)
    assert first.judges and not second.judges and alone.judges


def test_a_hand_off_round_trips_and_a_bad_one_says_what_is_wrong():
    calls = [ObserveRecord(10.0, "aq-1", "c1", None, None, 99.0, 1, 0.5),
             ReadingRecord(10.0, "aq-1", "pm25", 3.0, 99.0, "c1", None, None)]
    back = handoff.decode(handoff.encode(Handoff(1, 1, 10.5, calls)))
    assert (back.member, back.messages, back.watermark, back.calls) == (1, 1, 10.5, calls)
    with pytest.raises(HandoffError, match="not a JSON object"):
        handoff.decode(b"{")
    with pytest.raises(HandoffError, match=r"member 1 cannot be read: .*\$\.calls\[0\]"):
        handoff.decode(b'{"type": "handoff", "v": %d, "member": 1, "messages": 1, "watermark": 1, "calls": [["o"]]}'
                       % HANDOFF_VERSION)


@pytest.mark.parametrize("payload, version", [
    (b'{"v": 1, "member": 3, "messages": 1, "watermark": 1, "calls": [["o", 1, 2]]}', 1),  # the untyped lists
    (b'{"type": "handoff", "v": 7, "member": 3, "messages": 0, "watermark": 1, "calls": []}', 7),  # a later one
])
def test_a_hand_off_of_another_version_is_refused_naming_both_versions_and_the_member(payload, version):
    with pytest.raises(HandoffVersionError) as refused:
        handoff.decode(payload)
    assert (refused.value.member, refused.value.version) == (3, version)
    assert f"version {version} from member 3; this gateway reads version {HANDOFF_VERSION}" in str(refused.value)


async def test_the_judge_drops_a_hand_off_of_another_version_acks_it_and_says_so_once_per_member(caplog):
    settings = Settings().replace(gateway={"group": "g", "members": 2})
    membership = Membership(settings.gateway, "p/v1")
    pipeline = Pipeline(settings, small_grid(), judges=True, records=True)
    link = GroupLink(membership, pipeline, lambda *a, **k: None, lambda: 100.0, StreamClock())
    old = b'{"v": 1, "member": 1, "messages": 1, "watermark": 99.0, "calls": [["o", 99.0, "aq-1"]]}'
    messages = [Inbound(membership.handoff_topic, old, 99.0 + i, mid=i + 1, qos=1) for i in range(3)]
    reading = Inbound("p/v1/readings/aq-1", b"{}", 99.5)
    with caplog.at_level(logging.ERROR):
        assert link.take([messages[0], reading, messages[1]], now=100.0) == [reading]
        link.take([messages[2]], now=100.0)
    assert caplog.text.count("version 1 from member 1; this gateway reads version 2") == 1
    assert link.merge.release(now=100.0).acks == messages  # acknowledged: sending them again would not help


def _obs(at, device, ts):
    return ObserveRecord(at, device, "c1", None, None, ts, None, None)


def _read(at, device, ts, value=1.0):
    return ReadingRecord(at, device, "pm25", value, ts, "c1", None, None)


def _op(record):
    return record.__struct_config__.tag  # "o", "r", "s": the tag that leads the record on the wire


def test_the_merge_waits_for_every_member_heard_from_and_orders_by_receive_time():
    merge = Merge(members=2)
    merge.add(0, 10.0, [_obs(5.0, "a", 100.0), _read(5.0, "a", 100.0)], 1, [], now=20.0)
    merge.add(1, 4.0, [_obs(3.0, "b", 90.0), _read(3.0, "b", 90.0)], 1, ["ack-1"], now=20.0)
    released = merge.release(now=20.0)
    # Member 1 has only passed 4.0: b's message (received at 3.0) goes, a's (5.0) waits.
    assert [c.device_id for c in released.calls] == ["b", "b"] and released.times == [("b", 90.0)]
    assert released.messages == 1 and released.acks == ["ack-1"]
    merge.add(1, 6.0, [], 0, [], now=20.0)  # a heartbeat moves its watermark on
    released = merge.release(now=20.0)
    assert [c.device_id for c in released.calls] == ["a", "a"] and released.messages == 1 and len(merge) == 0


def test_records_wait_the_group_delay_behind_the_watermarks():
    merge = Merge(members=2, delay_s=1.0)
    merge.add(0, 10.0, [_obs(9.5, "a", 100.0)], 1, [], now=20.0)
    merge.add(1, 10.0, [], 0, [], now=20.0)
    assert merge.release(now=20.0).calls == []  # both are past 9.5, but not by a second
    merge.add(1, 10.6, [], 0, [], now=20.0)
    merge.add(0, 10.6, [], 0, [], now=20.0)
    assert [c.device_id for c in merge.release(now=20.0).calls] == ["a"]


def test_a_member_not_heard_from_is_not_waited_for():
    merge = Merge(members=2, absent_s=1.0)
    merge.add(1, 1.0, [], 0, [], now=10.0)
    merge.add(0, 50.0, [_obs(5.0, "a", 100.0)], 1, [], now=10.5)
    assert merge.release(now=10.5).calls == []  # member 1 said something half a second ago
    assert len(merge.release(now=11.5).calls) == 1  # and nothing for 1.5 s


def test_statuses_before_readings_and_each_device_in_timestamp_order():
    merge = Merge(members=2)
    # The broker gave a device's upload (older readings) and its next reading to different members,
    # and the reading's member stamped it first; its birth message came last of all.
    merge.add(0, 9.0, [_obs(1.0, "d", 300.0), _read(1.0, "d", 300.0), StatusRecord(3.0, "d", "c1", True)], 2, [], now=9.0)
    merge.add(1, 9.0, [_obs(2.0, "d", 100.0), _read(2.0, "d", 100.0), _obs(2.0, "d", 200.0), _read(2.0, "d", 200.0),
                       _obs(2.5, "e", 150.0)], 1, [], now=9.0)
    released = merge.release(now=9.0)
    calls = released.calls
    assert [(_op(c), c.device_id, c.ts if _op(c) == "o" else None) for c in calls] == [
        ("s", "d", None),
        ("o", "d", 100.0), ("r", "d", None), ("o", "d", 200.0), ("r", "d", None), ("o", "d", 300.0), ("r", "d", None),
        ("o", "e", 150.0),
    ]
    assert [c.ts for c in calls if _op(c) == "r"] == [100.0, 200.0, 300.0]
    assert released.messages == 3


SCENARIO = """
[scenario]
name = "replay"
seed = 5
start = 2026-05-12T13:00:00+08:00
duration = "2h"
warmup = "6h"

[area]
grid = "generated"
bbox = [114.330, 34.780, 114.340, 34.788]
cell_size_m = 400
district_code = "410204"

[devices]
sensors = 16
cameras = 2
interval = "5m"

[[incidents]]
id = "flood"
type = "waterlogging"
start = "+20m"
end = "+1h"
magnitude = 1.6

[[faults]]
id = "stuck"
kind = "stuck"
sensor_type = "noise"
start = "+10m"
end = "+1h30m"
"""


class RecordingLink(DirectLink):
    """DirectLink whose pipeline records, its records replayed on a judging pipeline batch by batch."""

    def __init__(self, recorder_pipeline, judge_pipeline, prefix, clock):
        super().__init__(recorder_pipeline, prefix, clock)
        self.judge_pipeline = judge_pipeline

    async def flush(self) -> None:
        inbox, self.inbox = self.inbox, []
        for i in range(0, len(inbox), self.batch):
            decoded = self.pipeline.decode(inbox[i:i + self.batch])
            self.clock.observe(decoded)
            self.pipeline.resolve(decoded, self.clock())
            calls = self.pipeline.judge.take()
            self.anomalies += self.judge_pipeline.judged(calls, len(decoded.messages), self.clock()).anomalies
        self.anomalies += self.judge_pipeline.tick(self.clock()).anomalies


async def test_records_replayed_judge_exactly_as_judging_at_once():
    settings = Settings()
    world = build_world(loads_scenario(SCENARIO, "replay"), settings.metrics)
    devices = {d.id: d for d in world.devices}
    runs = []
    for records in (False, True):
        clock = StreamClock(start=world.scenario.begin)
        direct = Pipeline(settings, world.grid, devices)
        if records:
            recorder = Pipeline(settings, world.grid, devices, judges=False, records=True)
            assert isinstance(recorder.judge, Recorder)
            link = RecordingLink(recorder, direct, settings.mqtt.prefix, clock)
        else:
            link = DirectLink(direct, settings.mqtt.prefix, clock)
        await ScenarioPlayer(world, link, step_s=300, catalog=settings.metrics).run()
        runs.append([(a.device_id, a.metric, a.type, a.cell_code, a.status, a.ts, a.explanation) for a in link.anomalies])
    assert {r[2] for r in runs[0]} >= {"water_level_cm_high", "sensor_stuck"}
    assert runs[1] == runs[0]
