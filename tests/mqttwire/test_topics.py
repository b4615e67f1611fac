"""Topic routing: every inbound topic is routed or refused, never mis-routed."""

from hypothesis import given
from hypothesis import strategies as st

from mqttwire.topics import Route, Topics

T = Topics("gridtwin/v1")


def test_routes_the_contracts_topics():
    assert T.route("gridtwin/v1/readings/aq-0012") == Route("readings", "aq-0012")
    assert T.route("gridtwin/v1/camera/cam-1/events") == Route("camera", "cam-1")
    assert T.route("gridtwin/v1/status/aq-0012") == Route("status", "aq-0012")


def test_refuses_other_topics():
    for topic in (
        "gridtwin/v1/readings/a/b",  # device id with a slash
        "gridtwin/v1/readings/",  # empty device id
        "gridtwin/v1/camera/cam-1",  # missing /events
        "gridtwin/v1/camera/cam-1/snapshot",
        "gridtwin/v2/readings/aq-1",  # other version
        "gridtwin/v1",
        "other/readings/aq-1",
    ):
        assert T.route(topic) is None, topic


def test_outbound_topics():
    assert T.cell_state("410204", "410204001001003") == "gridtwin/v1/cells/410204/410204001001003/state"
    assert T.dead_letter("schema") == "gridtwin/v1/deadletter/schema"
    assert T.case("410204", "C-1") == "gridtwin/v1/cases/410204/C-1"


def test_prefix_is_checked():
    for bad in ("", "a/#", "a/+/b", "a/"):
        try:
            Topics(bad)
        except ValueError:
            continue
        raise AssertionError(f"prefix {bad!r} accepted")


segment = st.text(alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=20)


@given(segment)
def test_any_device_segment_round_trips(device_id):
    assert T.route(T.readings(device_id)) == Route("readings", device_id)
    assert T.route(T.camera_events(device_id)) == Route("camera", device_id)


@given(st.lists(segment, min_size=3, max_size=6))
def test_deeper_readings_topics_are_refused(parts):
    assert T.route("gridtwin/v1/readings/" + "/".join(parts)) is None
