"""The whole corpus: every source's cases, hypothesis-drawn structured variants among the hand-written
hostile classes, interleaved so that every adapter is under load at once. Deterministic for a seed."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings
from hypothesis import strategies as st

from bench.hostile import native
from bench.hostile.corpus import RANGES, Case, World
from bench.hostile.bridges import Esphome, HomeAssistant, Tasmota, Zigbee2Mqtt
from bench.hostile.platforms import Alink, Frigate, Senml, TheThingsStack
from bench.hostile.source import FIELDS

SOURCES = {cls.name: cls for cls in (Frigate, TheThingsStack, Zigbee2Mqtt, Senml, Tasmota, Esphome, Alink, HomeAssistant)}
NATIVE = ("native-readings", "native-camera", "native-status")
SOURCE_NAMES = (*NATIVE, *SOURCES)
STRUCTURED_EVERY = 5  # one case in five is a hypothesis draw (the generators take every fifth from the draws)

field_values = st.sets(st.sampled_from(sorted(FIELDS)), min_size=1).flatmap(
    lambda names: st.fixed_dictionaries({n: st.floats(*RANGES[FIELDS[n]]).map(lambda v: round(v, 4))
                                         for n in sorted(names)}))


def draws(strategy, count: int, seed: int) -> list:
    """`count` examples of a hypothesis strategy, the same ones for the same seed (no example database)."""
    out: list = []
    if count <= 0:
        return out

    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(strategy)
    def collect(example):
        out.append(example)

    collect()
    return out


def corpus(world: World, per_source: int, seed: int = 6, sources: tuple[str, ...] = SOURCE_NAMES) -> list[Case]:
    """`per_source` cases of each source, interleaved round-robin (each source's own order kept).

    Building it registers the third-party devices that are to be known beforehand in `world`."""
    structured = per_source // STRUCTURED_EVERY + 1
    streams: list[list[Case]] = []
    for index, name in enumerate(sources):
        s = seed * 100 + index
        if name == "native-readings":
            streams.append(native.readings(world, per_source, s, draws(native.structured_reading(world), structured, s)))
        elif name == "native-camera":
            streams.append(native.camera(world, per_source, s, draws(native.structured_camera(world), structured, s)))
        elif name == "native-status":
            streams.append(native.status(world, per_source, s))
        else:
            source = SOURCES[name](world, s)
            values = draws(field_values, structured, s)
            streams.append([source.make(i, values) for i in range(per_source)])
    mixed: list[Case] = []
    for i in range(per_source):
        mixed.extend(stream[i] for stream in streams)
    return mixed
