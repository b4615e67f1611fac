"""Auto-dispatch rules: which pairs of anomalies match, in either order, and the configuration."""

from __future__ import annotations

import pytest
from shapely.geometry import box

from twin.cases.autodispatch import DEFAULT_RULES, DispatchRule, find_matches, rules_from_config
from twin.errors import ConfigError
from twin.grid.cells import Cell, Grid
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level

T0 = 1_795_939_200.0
# A row of four cells west to east: A B C D; A and C are not neighbours.
CODES = [f"410204001001{n:03d}" for n in range(1, 5)]
A, B, C, D = CODES
GRID = Grid([Cell(code, code, box(114.33 + i * 0.002, 34.79, 114.332 + i * 0.002, 34.792))
             for i, code in enumerate(CODES)])


def anomaly(id_, type_, cell, ts=T0, detector="threshold", device=None, severity=Level.CRITICAL, status="opened"):
    return Anomaly(id_, type_, status, severity, cell, device or f"dev-{id_}", detector, ts, f"{type_} at {cell}")


def camera(id_, type_="fire", cell=A, ts=T0, **kw):
    return anomaly(id_, type_, cell, ts, detector="camera", **kw)


def smoke(id_, cell=A, ts=T0, **kw):
    return anomaly(id_, "smoke", cell, ts, detector="threshold", **kw)


PAIRS = [
    # camera fire, smoke sensor in the same cell a minute later
    (camera("t"), [], smoke("c", ts=T0 + 60), True),
    # the sensor first, the camera second: the camera completes the pair
    (smoke("c"), [], camera("t", ts=T0 + 30), True),
    # smoke in a neighbouring cell
    (camera("t"), [], smoke("c", cell=B, ts=T0 + 60), True),
    # smoke two cells away is no confirmation
    (camera("t"), [], smoke("c", cell=C, ts=T0 + 60), False),
    # too late: more than five minutes apart
    (camera("t"), [], smoke("c", ts=T0 + 301), False),
    # a warning from the camera does not trigger a critical rule
    (camera("t", severity=Level.WARNING), [], smoke("c", ts=T0 + 1), False),
    # smoke seen by the camera and a smoke anomaly from another camera: cameras do not confirm cameras
    (camera("t", "smoke"), [], camera("c", "smoke", ts=T0 + 1), False),
    # the same device twice is no confirmation
    (camera("t", device="cam-1"), [], smoke("c", device="cam-1", ts=T0 + 1), False),
    # a cleared anomaly does not count
    (camera("t"), [], smoke("c", ts=T0 + 1, status="cleared"), False),
    # waterlogging confirmed by the water level
    (camera("t", "waterlogging"), [], anomaly("c", "water_level_cm_high", A, T0 + 500, severity=Level.WARNING), True),
]


@pytest.mark.parametrize("first, _, second, matches", PAIRS)
def test_pairs(first, _, second, matches):
    found = find_matches(DEFAULT_RULES, second, [first], GRID)
    assert bool(found) == matches
    if matches:
        (match,) = found
        assert match.trigger.detector == "camera" and match.confirmation.detector == "threshold"
        assert match.rule.name in match.explanation()


def test_one_confirmation_matches_every_trigger_near_it():
    triggers = [camera("t1", cell=A), camera("t2", cell=B, ts=T0 + 10)]
    found = find_matches(DEFAULT_RULES, smoke("c", cell=B, ts=T0 + 20), triggers, GRID)
    assert sorted(m.trigger.id for m in found) == ["t1", "t2"]


def test_a_rule_without_confirmation_dispatches_on_the_trigger_alone():
    rule = DispatchRule("gas", types=("gas_leak",), detectors=("threshold",))
    (match,) = find_matches([rule], anomaly("g", "gas_leak", D), [], GRID)
    assert match.confirmation is None and "gas" in match.explanation()


def test_rules_from_config():
    rules = rules_from_config([{"name": "x", "types": ["fire"], "confirm_types": ["smoke"], "within": "2m",
                                "neighbours": False, "min_severity": "warning"}])
    assert rules == (DispatchRule("x", ("fire",), ("camera",), Level.WARNING, ("smoke",), (), 120.0, False),)
    assert rules_from_config(None) == DEFAULT_RULES
    assert rules_from_config([]) == ()


@pytest.mark.parametrize("items, message", [
    ({"name": "x"}, "array of tables"),
    ([{"types": ["fire"]}], "name"),
    ([{"name": "x", "types": ["fire"]}, {"name": "x", "types": ["smoke"]}], "unique"),
    ([{"name": "x"}], "at least one case type"),
    ([{"name": "x", "types": ["fire"], "whithin": "5m"}], "unknown key"),
    ([{"name": "x", "types": ["fire"], "min_severity": "urgent"}], "warning or critical"),
    ([{"name": "x", "types": ["fire"], "neighbours": "yes"}], "true or false"),
    ([{"name": "x", "types": "fire"}], "list of names"),
])
def test_bad_rules(items, message):
    with pytest.raises(ConfigError, match=message):
        rules_from_config(items)
