"""VitalsBook: a batch's observations summed per device, the latest message's figures winning."""

from __future__ import annotations

from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from gateway.messages import CameraObservation, Decoded, Observation
from gateway.vitals import VitalsBook
from twin.devices.health import Vitals

maybe = lambda s: st.none() | s  # noqa: E731
observations = st.builds(
    lambda device, at, ts, battery, rssi, lq: Observation(
        device, ts, {"pm25": 1.0}, "t", b"{}", received_at=at, battery=battery,
        signal=None if rssi is None and lq is None else {"rssi": rssi, "linkquality": lq}),
    st.sampled_from(["aq-1", "aq-2", "cam-1"]), st.sampled_from([100.0, 101.0, 102.0]),
    maybe(st.sampled_from([99.0, 100.5])), maybe(st.sampled_from([0.2, 0.9])),
    maybe(st.sampled_from([-97.0, -80.0])), maybe(st.sampled_from([20, 200])))
cameras = st.builds(lambda at: CameraObservation("cam-1", at, "e1", "fire", 0.9, "start", "t", b"{}", received_at=at),
                    st.sampled_from([100.0, 101.5]))


def one_by_one(decoded: Decoded, accepted) -> dict[str, Vitals]:
    """The definition: a Vitals per observation, merged in order."""
    per_device: dict[str, list[Vitals]] = {}
    for o in decoded.observations:
        if o.device_id in accepted:
            signal = o.signal or {}
            skew = None if o.ts is None else round(o.ts - o.received_at, 3)
            per_device.setdefault(o.device_id, []).append(Vitals(
                o.device_id, o.received_at, 1, o.battery, signal.get("rssi"), signal.get("snr"),
                signal.get("linkquality"), skew))
    for c in decoded.camera:
        if c.camera_id in accepted:
            per_device.setdefault(c.camera_id, []).append(Vitals(c.camera_id, c.received_at, 1))
    return {d: reduce(Vitals.merge, vs) for d, vs in per_device.items()}


@given(st.lists(observations, max_size=12), st.lists(cameras, max_size=3),
       st.sets(st.sampled_from(["aq-1", "aq-2", "cam-1"])))
def test_a_batch_sums_like_merging_one_vitals_per_message(obs, cams, accepted):
    decoded = Decoded(observations=obs, camera=cams)
    book = VitalsBook()
    book.note(decoded, {d: 0.0 for d in accepted})
    got = {v.device_id: v for v in book.take(force=True)}
    assert got == one_by_one(decoded, accepted)


def test_batches_add_up_and_an_earlier_message_only_fills_gaps():
    book = VitalsBook()
    book.note(Decoded(observations=[Observation("aq-1", None, {}, "t", b"", received_at=200.0, battery=0.5)]),
              {"aq-1": 0.0})
    book.note(Decoded(observations=[Observation("aq-1", None, {}, "t", b"", received_at=150.0, battery=0.9,
                                                signal={"rssi": -90.0})]), {"aq-1": 0.0})
    (v,) = book.take(force=True)
    assert (v.at, v.messages, v.battery, v.rssi) == (200.0, 2, 0.5, -90.0)
    assert book.take(force=True) == []
