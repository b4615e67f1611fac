"""Reading scenario files (TOML). Every mistake is a ScenarioError naming the file, the line and
the field, e.g. `rainstorm.toml:41: incidents[2].start: '+1x' is not a duration ...`.

Times: `scenario.start` is an RFC 3339 date-time (a TOML date-time, or a string); other times
are offsets from it (`"+1d6h30m"`, or a number of seconds) or absolute date-times. Durations
are `"7d"`, `"1h30m"`, `"45s"` or seconds. See docs/scenarios.md for every key.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any, Callable

from firmware_sim.errors import ScenarioError
from firmware_sim.faults import FAULT_KINDS
from firmware_sim.fleet import SENSOR_TYPES
from firmware_sim.incidents import CAMERA_EVENT_TYPES, INCIDENT_TYPES
from firmware_sim.scenarios.model import Area, FaultSpec, Fleet, IncidentSpec, Scenario, StormSpec

# A gateway that just started knows nothing about what is usual; by default a scenario plays two
# ordinary days first, which detectors learn from and scoring ignores.
DEFAULT_WARMUP_S = 2 * 86400.0

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")
_KEY = re.compile(r'^\s*("?)([A-Za-z0-9_\-]+)\1\s*=')
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?")


def parse_duration(value: Any) -> float:
    """Seconds from `"1d6h"`, `"90m"`, `"45s"`, `"1h30m"` or a number of seconds.

    >>> parse_duration("1d6h30m"), parse_duration("45s"), parse_duration(90)
    (109800.0, 45.0, 90.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a duration (e.g. '90m', '1d6h', '45s' or seconds)")
    match = _DURATION.match(value)
    if not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration (e.g. '90m', '1d6h', '45s' or seconds)")
    d, h, m, s = (float(g) if g else 0.0 for g in match.groups())
    return d * 86400 + h * 3600 + m * 60 + s


def parse_datetime(value: Any, utc_offset_h: float) -> float:
    """Epoch seconds of a TOML date-time or an RFC 3339 string; without an offset it is local
    time at `utc_offset_h`."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an RFC 3339 date-time (e.g. 2026-07-14T18:00:00+08:00)") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{value!r} is not a date-time")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone(dt.timedelta(hours=utc_offset_h)))
    return value.timestamp()


def parse_time(value: Any, start: float, utc_offset_h: float) -> float:
    """A time in the scenario: an offset from `start` ("+1d6h" or seconds) or an absolute date-time."""
    if isinstance(value, str) and value.strip().startswith("+"):
        return start + parse_duration(value.strip()[1:])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return start + float(value)
    return parse_datetime(value, utc_offset_h)


class _Lines:
    """Where each table and key of a TOML text is, for error messages (tomllib keeps no positions)."""

    def __init__(self, text: str):
        self.at: dict[tuple[str, int | None, str | None], int] = {}
        counts: dict[str, int] = {}
        table: tuple[str, int | None] = ("", None)
        for number, line in enumerate(text.splitlines(), 1):
            header = _HEADER.match(line)
            if header:
                name = header.group(2)
                if header.group(1) == "[[":
                    counts[name] = counts.get(name, -1) + 1
                    table = (name, counts[name])
                else:
                    table = (name, None)
                self.at.setdefault((*table, None), number)
                continue
            key = _KEY.match(line)
            if key:
                self.at.setdefault((*table, key.group(2)), number)

    def line(self, table: str, index: int | None = None, key: str | None = None) -> int | None:
        return self.at.get((table, index, key)) or self.at.get((table, index, None))


class _Table:
    """One TOML table being read: typed `take` of keys, and an error for any key left over."""

    def __init__(self, data: Any, name: str, lines: _Lines, path, index: int | None = None):
        self.name, self.lines, self.path, self.index = name, lines, path, index
        self.label = f"{name}[{index}]" if index is not None else name
        if not isinstance(data, dict):
            raise self.error(f"must be a table ([{name}])")
        self.data = dict(data)

    def error(self, message: str, key: str | None = None) -> ScenarioError:
        field = f"{self.label}.{key}" if key else self.label
        return ScenarioError(message, path=self.path, line=self.lines.line(self.name, self.index, key), field=field)

    def take(self, key: str, convert: Callable[[Any], Any] | None = None, default: Any = None, required: bool = False):
        if key not in self.data:
            if required:
                raise self.error("is required", key)
            return default
        value = self.data.pop(key)
        if convert is None:
            return value
        try:
            return convert(value)
        except (ValueError, TypeError) as exc:
            raise self.error(str(exc), key) from None

    def key_lines(self) -> dict[str, int]:
        """Line of each key of this table, for errors found later (a device the fleet lacks)."""
        return {k: line for k in self.data if (line := self.lines.line(self.name, self.index, k)) is not None}

    def sub(self, key: str) -> "_Table | None":
        if key not in self.data:
            return None
        return _Table(self.data.pop(key), f"{self.name}.{key}", self.lines, self.path)

    def done(self) -> None:
        if self.data:
            key = sorted(self.data)[0]
            raise self.error(f"unknown key {key!r}", key)


def _number(kind=float, low: float | None = None, high: float | None = None, above: float | None = None):
    def convert(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{value!r} is not a number")
        if kind is int and int(value) != value:
            raise ValueError(f"{value!r} is not a whole number")
        value = kind(value)
        if low is not None and value < low:
            raise ValueError(f"{value:g} is below {low:g}")
        if high is not None and value > high:
            raise ValueError(f"{value:g} is above {high:g}")
        if above is not None and not value > above:
            raise ValueError(f"{value:g} must be more than {above:g}")
        return value
    return convert


def _text(value) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a non-empty string")
    return value


def _choice(options):
    def convert(value):
        if value not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(map(str, options))}")
        return value
    return convert


def _positive_duration(value) -> float:
    seconds = parse_duration(value)
    if not seconds > 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


def _pair(value) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
        raise ValueError(f"{value!r} must be two positive whole numbers, e.g. [2, 1]")
    return tuple(value)


def _bbox(value) -> tuple[float, float, float, float]:
    if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value)):
        raise ValueError(f"{value!r} must be [min_lon, min_lat, max_lon, max_lat]")
    west, south, east, north = map(float, value)
    if not (-180 <= west < east <= 180 and -85 <= south < north <= 85):
        raise ValueError(f"{value!r} is not [min_lon, min_lat, max_lon, max_lat] in WGS84")
    return west, south, east, north


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; ScenarioError says what is wrong and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("no such scenario file", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot be read: {exc}", path=path) from None
    return loads_scenario(text, path)


def loads_scenario(text: str, path: str | Path | None = None) -> Scenario:
    """A Scenario from TOML text; `path` only names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ScenarioError(f"not valid TOML: {exc}", path=path, line=int(match.group(1)) if match else None) from None
    lines = _Lines(text)
    root = _Table(data, "", lines, path)
    head = root.sub("scenario")
    if head is None:
        raise ScenarioError("a [scenario] table with name, start and duration is required", path=path)
    offset = head.take("utc_offset_h", _number(float, -14, 14), 8.0)
    name = head.take("name", _text, required=True)
    start = head.take("start", lambda v: parse_datetime(v, offset), required=True)
    duration = head.take("duration", _positive_duration, required=True)
    scenario = dict(
        name=name, start=start, duration_s=duration, utc_offset_h=offset,
        description=head.take("description", str, ""),
        seed=head.take("seed", _number(int, 0), 0),
        warmup_s=head.take("warmup", parse_duration, DEFAULT_WARMUP_S),
    )
    head.done()
    if scenario["warmup_s"] < 0:
        raise head.error("must not be negative", "warmup")
    when = lambda v: parse_time(v, start, offset)  # noqa: E731 - one closure for every time field

    area_table = root.sub("area")
    area = _area(area_table) if area_table else Area()
    devices = root.sub("devices")
    fleet = _fleet(devices, scenario["seed"]) if devices else Fleet(seed=scenario["seed"])
    rain_chance, storms = 0.12, ()
    weather = root.sub("weather")
    if weather is not None:
        rain_chance = weather.take("rain_chance", _number(float, 0, 1), 0.12)
        storms = tuple(_storm(t, when) for t in _array(weather, "storms", lines, path, "weather.storms"))
        weather.done()
    incidents = tuple(_incident(t, when) for t in _array(root, "incidents", lines, path))
    faults = tuple(_fault(t, when) for t in _array(root, "faults", lines, path))
    root.done()
    result = Scenario(**scenario, rain_chance=rain_chance, storms=storms, area=area, fleet=fleet,
                      incidents=incidents, faults=faults, path=Path(path) if path is not None else None)
    _check_span(result, lines, path)
    return result


def _array(parent: _Table, key: str, lines: _Lines, path, name: str | None = None) -> list[_Table]:
    items = parent.data.pop(key, [])
    name = name or key
    if not isinstance(items, list):
        raise ScenarioError(f"must be an array of tables ([[{name}]])", path=path, line=lines.line(name), field=name)
    return [_Table(item, name, lines, path, i) for i, item in enumerate(items)]


def _area(t: _Table) -> Area:
    grid = t.take("grid", _choice(("demo", "demo-square", "generated")), None)
    bbox = t.take("bbox", _bbox)
    if grid is None:
        grid = "generated" if bbox is not None else "demo"
    if grid == "generated" and bbox is None:
        raise t.error("a generated grid needs bbox = [min_lon, min_lat, max_lon, max_lat]", "bbox")
    if grid in ("demo", "demo-square") and bbox is not None:
        raise t.error(f"the {grid} grid has its own area; drop bbox or set grid = \"generated\"", "bbox")
    area = Area(
        grid=grid, bbox=bbox,
        cell_size_m=t.take("cell_size_m", _number(float, 50, 2000), 200.0),
        shape=t.take("shape", _choice(("square", "hex")), "square"),
        district_code=t.take("district_code", _district, "410204"),
        district_name=t.take("district_name", str, ""),
        streets=t.take("streets", _pair, (2, 2)),
        communities=t.take("communities", _pair, (2, 2)),
    )
    t.done()
    return area


def _district(value) -> str:
    if not (isinstance(value, str) and re.fullmatch(r"\d{6}", value)):
        raise ValueError(f"{value!r} is not a 6-digit district code (GB/T 2260), e.g. \"410204\"")
    return value


def _fleet(t: _Table, seed: int) -> Fleet:
    types = {s.name for s in SENSOR_TYPES}
    sensors = t.take("sensors", _number(int, 0), 100)
    cameras = t.take("cameras", _number(int, 0), 10)
    interval = t.take("interval", _positive_duration, 300.0)
    camera_events = t.take("camera_events", _events)
    fleet_seed = t.take("seed", _number(int, 0), seed)
    mix = intervals = None
    mix_table = t.sub("mix")
    if mix_table is not None:
        mix = {}
        for name in list(mix_table.data):
            if name not in types:
                raise mix_table.error(f"unknown sensor type; known: {', '.join(sorted(types))}", name)
            mix[name] = mix_table.take(name, _number(float, 0))
        if not sum(mix.values()) > 0 and sensors:
            raise t.error("the weights must not all be zero", "mix")
    intervals_table = t.sub("intervals")
    if intervals_table is not None:
        intervals = {}
        for name in list(intervals_table.data):
            if name not in types and name != "camera":
                raise intervals_table.error(f"unknown sensor type; known: {', '.join(sorted(types))}", name)
            intervals[name] = intervals_table.take(name, _positive_duration)
    t.done()
    return Fleet(sensors=sensors, cameras=cameras, seed=fleet_seed, interval_s=interval, intervals=intervals or {},
                 mix=mix, camera_events=camera_events)


def _events(value) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(v not in CAMERA_EVENT_TYPES for v in value):
        raise ValueError(f"{value!r} must be a list of camera event types out of {', '.join(CAMERA_EVENT_TYPES)}")
    return tuple(value)


def _span(t: _Table, when) -> tuple[float, float]:
    start = t.take("start", when, required=True)
    end = t.take("end", when)
    duration = t.take("duration", _positive_duration)
    if end is None and duration is None:
        raise t.error("give end or duration", "end")
    if end is not None and duration is not None:
        raise t.error("give end or duration, not both", "duration")
    end = end if end is not None else start + duration
    if end <= start:
        raise t.error("ends before it starts", "end")
    return start, end


def _storm(t: _Table, when) -> StormSpec:
    start, end = _span(t, when)
    storm = StormSpec(start, end, t.take("peak_mm_h", _number(float, above=0), required=True))
    t.done()
    return storm


def _incident(t: _Table, when) -> IncidentSpec:
    lines = t.key_lines()
    type_ = t.take("type", _choice(tuple(INCIDENT_TYPES)), required=True)
    start, end = _span(t, when)
    spec = IncidentSpec(
        type=type_, start=start, end=end,
        cell=t.take("cell", _cell_code),
        magnitude=t.take("magnitude", _number(float, above=1.0), 1.5),
        spread=t.take("spread", _number(int, 0, 5), 0),
        spread_delay_s=t.take("spread_delay", parse_duration, 600.0),
        id=t.take("id", _text, ""),
        line=t.lines.line(t.name, t.index),
        lines=lines,
    )
    t.done()
    return spec


def _cell_code(value) -> str:
    if not (isinstance(value, str) and re.fullmatch(r"\d{15}", value)):
        raise ValueError(f"{value!r} is not a 15-digit cell code")
    return value


def _fault(t: _Table, when) -> FaultSpec:
    lines = t.key_lines()
    kind = t.take("kind", _choice(FAULT_KINDS), required=True)
    start, end = _span(t, when)
    types = tuple(s.name for s in SENSOR_TYPES)
    spec = FaultSpec(
        kind=kind, start=start, end=end,
        device=t.take("device", _text),
        sensor_type=t.take("sensor_type", _choice(types)),
        metric=t.take("metric", _text),
        value=t.take("value", _number(float)),
        size=t.take("size", _number(float, above=1.0), 2.0),
        every_s=t.take("every", _positive_duration, 1800.0),
        rate=t.take("rate", _number(float), 0.0),
        offset_s=t.take("offset", _signed_duration, 0.0),
        will=t.take("will", _bool, True),
        id=t.take("id", _text, ""),
        line=t.lines.line(t.name, t.index),
        lines=lines,
    )
    if spec.device and spec.sensor_type:
        raise t.error("give device or sensor_type, not both", "sensor_type")
    if kind == "drift" and spec.rate == 0:
        raise t.error("a drift needs a rate (metric units per hour, e.g. 2.5 or -1)", "rate")
    if kind == "clock_skew" and spec.offset_s == 0:
        raise t.error("a clock skew needs an offset, e.g. \"+15m\" or \"-2h\"", "offset")
    t.done()
    return spec


def _signed_duration(value) -> float:
    if isinstance(value, str) and value.strip()[:1] in "+-":
        sign = -1.0 if value.strip()[0] == "-" else 1.0
        return sign * parse_duration(value.strip()[1:])
    return parse_duration(value)


def _bool(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _check_span(s: Scenario, lines: _Lines, path) -> None:
    """Injected things must happen inside the scored span, where they can be judged."""
    for table, items in (("incidents", s.incidents), ("faults", s.faults), ("weather.storms", s.storms)):
        for i, item in enumerate(items):
            if item.start < s.start or item.start >= s.end:
                raise ScenarioError(
                    f"starts outside the scenario ({_iso(s.start)} to {_iso(s.end)})",
                    path=path, line=lines.line(table, i, "start"), field=f"{table}[{i}].start")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="minutes").replace("+00:00", "Z")
