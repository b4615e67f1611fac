"""Which signals point to which kind of incident: a smoke alarm and a camera's `fire` both point
to a fire, so they corroborate each other; a water level and a camera's `crowding` do not.

Two pieces of evidence agree when the kinds they point to overlap. A metric this table does
not know (one added to the catalog) points to a kind of its own, so two sensors of it still
agree with each other.
"""

from __future__ import annotations

from functools import lru_cache

# incident kind -> (metrics that rise with it, camera event types that report it)
SIGNATURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fire": (("smoke", "smoke_obscuration", "pm25", "pm10", "temperature_c"), ("fire", "smoke")),
    "smoke": (("smoke", "smoke_obscuration", "pm25", "pm10"), ("smoke", "fire")),
    "air_pollution": (("pm25", "pm10"), ()),
    "noise": (("noise_db",), ()),
    "crowding": (("noise_db",), ("crowding",)),
    "waterlogging": (("water_level_cm",), ("waterlogging",)),
    "bin_overflow": (("bin_fill_pct",), ()),
    "manhole_open": (("manhole_open", "manhole_tilt_deg"), ()),
    "illegal_parking": (("parking_occupied",), ("illegal_parking",)),
    "street_vendor": ((), ("street_vendor",)),
}


@lru_cache(maxsize=256)
def kinds_of_metric(metric: str) -> frozenset[str]:
    """The incident kinds a metric's deviation points to.

    >>> sorted(kinds_of_metric("water_level_cm")), sorted(kinds_of_metric("co2_ppm"))
    (['waterlogging'], ['co2_ppm'])
    """
    kinds = frozenset(k for k, (metrics, _) in SIGNATURES.items() if metric in metrics)
    return kinds or frozenset((metric,))


@lru_cache(maxsize=64)
def kinds_of_camera(event_type: str) -> frozenset[str]:
    """The incident kinds a camera detection points to."""
    kinds = frozenset(k for k, (_, cameras) in SIGNATURES.items() if event_type in cameras)
    return kinds or frozenset((event_type,))
