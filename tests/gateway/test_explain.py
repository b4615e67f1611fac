"""Plain-language pieces of explanations."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from gateway.detectors.explain import clock


@given(st.floats(min_value=-2e9, max_value=4e9), st.sampled_from([0.0, 8.0, 5.5, -3.0, -9.5, 12.75]))
def test_clock_is_the_local_time_of_day_at_the_offset(ts, offset):
    zone = dt.timezone(dt.timedelta(hours=offset))
    assert clock(ts, offset) == dt.datetime.fromtimestamp(ts, zone).strftime("%H:%M")
