"""Time limits from the configuration: durations, precedence of type over severity, and errors."""

from __future__ import annotations

import pytest

from twin.cases.deadlines import DEFAULT_LIMITS, Limits, TimeLimits, parse_duration
from twin.errors import ConfigError
from twin.sensing.catalog import Level


@pytest.mark.parametrize("text, seconds", [("15m", 900), ("2h", 7200), ("1d", 86400), ("90s", 90), ("30", 30),
                                            (45, 45), (1.5, 1.5), (" 1.5h ", 5400),
                                            ("1s", 1), (0.5, 0.5)])  # short, but positive
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5m", "0", 0, "5 minutes", True, None, "1w"])
def test_bad_durations(text):
    with pytest.raises(ConfigError):
        parse_duration(text, "accept")


def test_defaults_match_the_issue():
    assert DEFAULT_LIMITS[Level.CRITICAL].accept == 15 * 60 and DEFAULT_LIMITS[Level.CRITICAL].handle == 2 * 3600
    limits = TimeLimits()
    assert limits.for_case("pm25_high", Level.WARNING) == DEFAULT_LIMITS[Level.WARNING]
    assert limits.for_case("pm25_high", Level.NORMAL) == DEFAULT_LIMITS[Level.WARNING]


def test_type_overrides_severity_and_type_severity_overrides_both():
    limits = TimeLimits.from_config({
        "critical": {"accept": "10m"},
        "fire": {"accept": "5m", "critical": {"handle": "1h"}},
    })
    assert limits.for_case("smoke", Level.CRITICAL).accept == 600
    fire = limits.for_case("fire", Level.CRITICAL)
    assert (fire.accept, fire.handle, fire.township) == (300, 3600, DEFAULT_LIMITS[Level.CRITICAL].township)
    assert limits.for_case("fire", Level.WARNING).accept == 300
    assert limits.for_case("fire", Level.WARNING).handle == DEFAULT_LIMITS[Level.WARNING].handle
    assert limits.shortest() == 300


@pytest.mark.parametrize("table, message", [
    ({"critical": {"acept": "5m"}}, "unknown key"),  # a typo is named
    ({"critical": {"accept": "3h"}}, "accept"),  # accept longer than handle
    ({"fire": {"urgent": {"accept": "1m"}}}, "names a severity"),  # nested table that is no severity
    ({"fire": "5m"}, "must be a table"),
    ({"fire": {"accept": "1d"}}, "cases.limits.fire"),  # longer than the critical handle limit (2 h)
    # each message names the key to fix
    ({"critical": {"accept": "soon"}}, r"^cases\.limits\.critical\.accept: 'soon' is not a duration"),
    ({"critical": {"accept": "3h"}}, r"^cases\.limits\.critical: accept \(10800 s\)"),
    ({"fire": {"handle": "-1h"}}, r"^cases\.limits\.fire\.handle: '-1h' is not a duration"),
    ({"fire": {"critical": {"handle": "0"}}}, r"^cases\.limits\.fire\.critical\.handle: '0' must be a positive"),
    ({"fire": {"critical": {"acept": "1m"}}}, r"^cases\.limits\.fire\.critical: unknown key\(s\) acept"),
    (["critical"], r"^cases\.limits must be a table$"),
])
def test_bad_limit_tables(table, message):
    with pytest.raises(ConfigError, match=message):
        TimeLimits.from_config(table)


def test_limits_refuse_accept_after_handle():
    with pytest.raises(ConfigError):
        Limits(accept=10, handle=5, township=1, county=1)
    assert Limits(accept=10, handle=10, township=1, county=1).accept == 10  # as long as handle is allowed


def test_the_shortest_limit_counts_every_override():
    limits = TimeLimits.from_config({"fire": {"critical": {"accept": "2m"}}, "smoke": {"county": "3m"}})
    assert limits.shortest() == 120
    assert TimeLimits.from_config({"smoke": {"county": "1m"}}).shortest() == 60
    assert TimeLimits.from_config({"smoke": {"county": "2d"}}).shortest() == 900  # the critical accept limit
