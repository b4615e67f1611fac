"""The JSON Schemas (draft 2020-12) of the MQTT contract, and validation of payloads against them.

The schemas live once, in `docs/schemas/` of the source tree, where integrators
read them and `docs/asyncapi.yaml` refers to them; this module reads them from
there, so it works in a source checkout or an editable install (`pip install -e`),
which is how the tests run. Each schema's `$id` is
`https://gridtwin.invalid/schemas/v1/<name>.json`, the `dataschema` that
twin/contract/cloudevents.py puts in every outbound event; `$ref`s between the files
resolve through those ids, never over the network.

    >>> validate("reading", {"values": {"pm25": 35.2}})
    >>> errors("reading", {"values": {}})
    ['values: {} should be non-empty']

`jsonschema` is needed only to validate (it is a test dependency); loading a
schema needs nothing but the standard library.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

__all__ = ["schema_names", "load_schema", "validate", "errors", "event_schema_name", "validate_event", "SCHEMA_DIR"]

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas"
SCHEMA_BASE = "https://gridtwin.invalid/schemas/v1"


def _dir() -> Path:
    if not SCHEMA_DIR.is_dir():
        raise FileNotFoundError(
            f"{SCHEMA_DIR} does not exist: the JSON Schemas ship in docs/schemas of the source tree; "
            "use a source checkout installed with `pip install -e .`"
        )
    return SCHEMA_DIR


def schema_names() -> list[str]:
    """Names of every schema, sorted: 'anomaly', 'anomaly-cloudevent', 'cell-state', ..."""
    return sorted(p.stem for p in _dir().glob("*.json"))


def _name(name: str) -> str:
    return name[: -len(".json")] if name.endswith(".json") else name


def load_schema(name: str) -> dict:
    """The schema `name` ('reading' or 'reading.json') as a fresh dict."""
    path = _dir() / f"{_name(name)}.json"
    if not path.is_file():
        raise ValueError(f"no schema named {name!r}; known: {', '.join(schema_names())}")
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _registry():
    from referencing import Registry, Resource

    resources = []
    for name in schema_names():
        schema = load_schema(name)
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@functools.lru_cache(maxsize=None)
def _validator(name: str):
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name), registry=_registry())


def validate(name: str, payload: Any) -> None:
    """Raise jsonschema.ValidationError (the most relevant error) unless `payload` matches schema `name`."""
    import jsonschema.exceptions

    error = jsonschema.exceptions.best_match(_validator(_name(name)).iter_errors(payload))
    if error is not None:
        raise error


def errors(name: str, payload: Any) -> list[str]:
    """Every way `payload` breaks schema `name`, as 'path: message' lines; empty when it matches."""
    found = sorted(_validator(_name(name)).iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in found]


def event_schema_name(event: dict) -> str:
    """The whole-message schema of an outbound CloudEvent, from its `dataschema`:
    '.../anomaly.json' -> 'anomaly-cloudevent'."""
    dataschema = event.get("dataschema", "") if isinstance(event, dict) else ""
    if not isinstance(dataschema, str) or not dataschema.startswith(SCHEMA_BASE + "/"):
        raise ValueError(f"not a GridTwin v1 event: dataschema {dataschema!r}")
    return _name(dataschema.rsplit("/", 1)[1]) + "-cloudevent"


def validate_event(event: dict) -> None:
    """Validate a whole outbound message (envelope and data) against the schema its dataschema names."""
    validate(event_schema_name(event), event)
