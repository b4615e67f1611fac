"""Frigate: frigate/events new/update/end with before/after, zones to cells, labels to types, snapshots ignored."""

import copy

import pytest

from gateway.adapters import IGNORE, FrigateAdapter
from gateway.deadletters import Reason
from tests.gateway.adapters.common import NOW, decode, make, reasons
from twin.errors import ConfigError

OPTIONS = {
    "cameras": {
        "north_gate": {"device": "cam-1", "zones": {"market_street": "410204001001002", "car_park": "410204001001004"}},
        "lane_7": {"zones": {"pavement": "410204001001003"}},
    },
    "labels": {"person": "crowding", "car": "illegal_parking", "dog": ""},
    "url": "http://frigate.intranet:5000/",
}
FRIGATE = make(FrigateAdapter, OPTIONS)


def tracked(**after) -> dict:
    """A tracked object as Frigate describes it in `before` and `after`."""
    obj = {
        "id": f"{NOW:.6f}-q3k9zd", "camera": "north_gate", "frame_time": NOW + 4.2, "snapshot_time": NOW + 3.9,
        "label": "person", "sub_label": None, "top_score": 0.83984375, "false_positive": False,
        "start_time": NOW, "end_time": None, "score": 0.8125, "box": [311, 402, 388, 611], "area": 16093,
        "ratio": 0.368, "region": [160, 256, 480, 576], "current_zones": ["market_street"],
        "entered_zones": ["market_street"], "thumbnail": None, "has_snapshot": True, "has_clip": True,
        "stationary": False, "motionless_count": 0, "position_changes": 1,
    }
    obj.update(after)
    return obj


def event(kind: str, **after) -> dict:
    before = tracked()
    return {"type": kind, "before": before, "after": tracked(**after)}


def test_new_event_starts_a_detection_in_the_zones_cell():
    out = decode(FRIGATE, "frigate/events", event("new"))
    (det,) = out.camera
    assert not out.rejections
    assert (det.camera_id, det.event_id, det.state, det.type) == ("cam-1", f"{NOW:.6f}-q3k9zd", "start", "crowding")
    assert det.ts == NOW and det.confidence == pytest.approx(0.83984375)
    assert det.zone == "market_street" and FRIGATE.zone_cells[("cam-1", "market_street")] == "410204001001002"
    assert det.snapshot_url == f"http://frigate.intranet:5000/api/events/{NOW:.6f}-q3k9zd/snapshot.jpg"


def test_update_also_starts_and_end_ends_at_end_time():
    (update,) = decode(FRIGATE, "frigate/events", event("update", current_zones=["car_park", "market_street"])).camera
    assert update.state == "start" and update.zone == "car_park"
    (end,) = decode(FRIGATE, "frigate/events", event("end", end_time=NOW + 31.5, current_zones=[])).camera
    assert end.state == "end" and end.ts == NOW + 31.5
    assert end.zone == "market_street"  # no current zone: the first entered one that has a cell


def test_unconfigured_camera_gets_its_own_id_and_labels_pass_through():
    (det,) = decode(FRIGATE, "frigate/events", event("new", camera="Back Yard", label="license_plate",
                                                      current_zones=["drive"], has_snapshot=False)).camera
    assert det.camera_id == "frigate-back-yard" and det.type == "license_plate"
    assert det.zone == "drive" and det.snapshot_url is None


def test_fire_and_smoke_and_dropped_labels():
    assert decode(FRIGATE, "frigate/events", event("new", label="fire")).camera[0].type == "fire"
    assert decode(FRIGATE, "frigate/events", event("new", label="smoke")).camera[0].type == "smoke"
    out = decode(FRIGATE, "frigate/events", event("new", label="dog"))
    assert not out.camera and not out.rejections


@pytest.mark.parametrize("topic", [
    "frigate/north_gate/person/snapshot",  # JPEG bytes
    "frigate/north_gate/person", "frigate/available", "frigate/stats", "frigate/reviews",
    "frigate/north_gate/detect/state",
])
def test_other_frigate_topics_are_ignored_without_reading_them(topic):
    assert FRIGATE.match(topic).kind == IGNORE
    out = decode(FRIGATE, topic, b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01")
    assert not out.camera and not out.rejections


@pytest.mark.parametrize("payload, reason", [
    (b"\xff\xd8\xff\xe0 not json", Reason.MALFORMED_JSON),
    ({"type": "new", "before": {}}, Reason.SCHEMA),  # no after
    (event("started"), Reason.SCHEMA),  # unknown type
    (event("new", top_score=1.7, score=1.7), Reason.SCHEMA),
    (event("new", id=""), Reason.SCHEMA),
    (event("new", label=None), Reason.SCHEMA),
    (event("new", start_time="soon"), Reason.SCHEMA),
])
def test_malformed_events_are_rejected(payload, reason):
    out = decode(FRIGATE, "frigate/events", payload)
    assert reasons(out) == [reason] and not out.camera


def test_score_when_there_is_no_top_score_yet():
    (det,) = decode(FRIGATE, "frigate/events", event("new", top_score=None, score=0.71)).camera
    assert det.confidence == pytest.approx(0.71)


def test_false_positives_are_not_detections():
    out = decode(FRIGATE, "frigate/events", event("update", false_positive=True))
    assert not out.camera and not out.rejections


@pytest.mark.parametrize("options", [
    {"cameras": {"x": {"zones": {"a": "12345"}}}},  # not a cell code
    {"cameras": {"x": {"device": "a/b"}}},  # not a device id
    {"cameras": {"x": {"lens": "wide"}}},
    {"labels": {"person": "Crowd Alert"}},  # not a topic-safe type
    {"topic_prefix": "#"},  # would cover the gateway's own topics
    {"colour": "red"},
])
def test_bad_options_are_configuration_errors(options):
    with pytest.raises(ConfigError):
        make(FrigateAdapter, copy.deepcopy(options))


def test_control_characters_never_reach_the_store():
    """A NUL in an event id is refused; in a zone it is skipped; in a camera name it is left out of the
    pending camera's name (PostgreSQL text cannot hold NUL: the batch's write failed for ever)."""
    assert reasons(decode(FRIGATE, "frigate/events", event("new", id="e\u0000"))) == [Reason.SCHEMA]
    (cam,) = decode(FRIGATE, "frigate/events", event("new", current_zones=["gate\u0000", "market_street"])).camera
    assert cam.zone == "market_street"
    adapter = make(FrigateAdapter)
    (cam,) = decode(adapter, "frigate/events", event("new", camera="yard\u0000cam")).camera
    info = adapter.describe(cam.camera_id)
    assert cam.camera_id == "frigate-yard-cam" and "\x00" not in info["name"] + info["attributes"]["source_id"]


def test_a_camera_named_in_another_script_is_read():
    """Regression: a camera named カメラ was refused as having no usable id."""
    (cam,) = decode(make(FrigateAdapter), "frigate/events", event("new", camera="\u30ab\u30e1\u30e9")).camera
    assert cam.camera_id.startswith("frigate-x")
    assert reasons(decode(FRIGATE, "frigate/events", event("new", camera="\u3000"))) == [Reason.SCHEMA]
