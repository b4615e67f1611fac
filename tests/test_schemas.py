"""The MQTT contract documents against the code: JSON Schemas, payloads built by
twin/contract/cloudevents.py, docs/asyncapi.yaml and the tables of docs/mqtt.md."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from shapely.geometry import box

from gateway.deadletters import DESCRIPTIONS, Reason
from twin.contract import cloudevents, schemas
from twin.grid.cells import Cell
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import DEFAULT_METRICS, Level
from twin.sensing.cellstate import CellState
from twin.sensing.readings import DeadLetter

DOCS = Path(__file__).resolve().parent.parent / "docs"
SOURCE = "gridtwin/gateway/gw-test"
T0 = 1795939200.123  # 2026-11-29T08:00:00.123Z


# -- the schemas themselves ---------------------------------------------------


def test_schema_files_are_the_loader_source():
    assert schemas.SCHEMA_DIR == DOCS / "schemas"
    assert schemas.SCHEMA_BASE == cloudevents.SCHEMA_BASE
    assert {
        "cloudevent", "anomaly", "anomaly-cloudevent", "cell-state", "cell-state-cloudevent",
        "deadletter", "deadletter-cloudevent", "reading", "reading-batch", "camera-event", "common",
        "case-update", "case-update-cloudevent",
    } <= set(schemas.schema_names())


@pytest.mark.parametrize("name", schemas.schema_names())
def test_every_schema_is_a_valid_2020_12_schema(name):
    schema = schemas.load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{schemas.SCHEMA_BASE}/{name}.json"  # the dataschema URI names the file
    jsonschema.Draft202012Validator.check_schema(schema)


def test_load_schema_accepts_file_names_and_rejects_unknown_ones():
    assert schemas.load_schema("reading.json") == schemas.load_schema("reading")
    with pytest.raises(ValueError, match="no schema named 'nope'"):
        schemas.load_schema("nope")


def test_deadletter_reasons_in_the_schema_are_the_fixed_list():
    enum = schemas.load_schema("deadletter")["properties"]["reason"]["enum"]
    assert enum == [r.value for r in Reason]


# -- payloads built by the real builders --------------------------------------


@pytest.fixture
def cell():
    return Cell(
        code="410204001002007",
        name="Grid 007",
        geometry=box(114.3465, 34.7965, 114.3485, 34.7985),
        district_name="Gulou District",
        street_name="Xiangguo Street",
        community_name="Shudian Community",
    )


@pytest.fixture
def bare_cell():
    """A cell imported without hierarchy names: its path is just its name."""
    return Cell(code="410203002001013", name="Grid 013", geometry=box(114.33, 34.78, 114.332, 34.782))


def threshold_anomaly(status="opened"):
    return Anomaly(
        id="an-1", type="pm25_high", status=status, severity=Level.WARNING, cell_code="410204001002007",
        device_id="aq-0012", detector="threshold", ts=T0,
        explanation="PM2.5 96.4 ug/m3 at aq-0012 is above the warning threshold 75 ug/m3.",
        metric="pm25", value=96.4, threshold=75.0, lat=34.7972, lon=114.3476,
    )


def camera_anomaly():
    """No metric, value, threshold or location: only the cell is known."""
    return Anomaly(
        id="an-2", type="street_vendor", status="cleared", severity=Level.CRITICAL,
        cell_code="410204001002007", device_id="cam-0003", detector="camera", ts=T0 + 60,
        explanation="Camera cam-0003 no longer sees a street vendor at north_gate.",
        details={"confidence": 0.91, "zone": "north_gate"},
    )


def case_records():
    """The audit rows of one case taken round the whole loop (and escalated, merged, reopened),
    as the store hands them to the gateway's relay."""
    from twin.cases.deadlines import Limits
    from twin.cases.workflow import new_case, transition
    from twin.people.audit import GENESIS, chain

    limits = Limits(900, 7200, 1800, 3600)
    case, entry = new_case(type_="fire", severity=Level.CRITICAL, cell_code="410204001002007", now=T0,
                           anomaly_ts=T0 - 1, lat=34.7972, lon=114.3476, note="camera cam-3 detected fire",
                           details={"anomaly_id": "an-1"})
    case = dataclasses.replace(case, id="C-20261129-0007")
    entries = [dataclasses.replace(entry, subject_id=case.id, snapshot=case.record())]
    steps = [("merge", {"severity": Level.CRITICAL, "anomaly_ts": T0 + 5}), ("file", {}),
             ("dispatch", {"assignee": "wang.fang"}), ("escalate", {}), ("accept", {}),
             ("handle", {"note": "put out", "photo_url": "https://photos.local/7.jpg"}), ("reopen", {"note": "smoke"}),
             ("dispatch", {}), ("reassign", {"assignee": "li.na"}), ("accept", {}), ("handle", {"note": "done"}),
             ("close", {}), ("evaluate", {"satisfaction": 5})]
    for i, (action, fields) in enumerate(steps, 1):
        fields = dict(fields)
        note = fields.pop("note", "")
        case, entry = transition(case, action, actor="dana", now=T0 + 60 * i, limits=limits, note=note, **fields)
        entries.append(entry)
    cancelled, entry = new_case(type_="pothole", severity=Level.WARNING, cell_code="410204001002007", now=T0,
                                actor="li.na", source="manual")
    cancelled = dataclasses.replace(cancelled, id="C-20261129-0008")
    cancelled, entry = transition(cancelled, "cancel", actor="dana", now=T0 + 1, limits=limits, reason="duplicate")
    return chain(GENESIS, 0, [*entries, entry])


def health_anomaly():
    """A device-health alert: a category of its own, never a case."""
    return Anomaly(
        id="an-3", type="sensor_stuck", status="opened", severity=Level.WARNING, cell_code="410204001002007",
        device_id="wl-0004", detector="flatline", ts=T0, metric="water_level_cm", value=42.0,
        explanation="Water level at wl-0004 has read 42 cm 8 times in a row over 40 min: stuck sensor suspected.",
        details={"run": 8, "run_s": 2400.0}, category="device_health",
    )


def built_events(cell, bare_cell):
    """(label, event) for every outbound shape the builders make."""
    for record in case_records():
        yield f"case {record.action}", cloudevents.case_update_event(record, cell, SOURCE)
    yield "case in a cell the grid no longer has", cloudevents.case_update_event(case_records()[0], None, SOURCE)
    yield "anomaly opened", cloudevents.anomaly_event(threshold_anomaly(), cell, SOURCE)
    yield "anomaly cleared", cloudevents.anomaly_event(threshold_anomaly("cleared"), cell, SOURCE)
    yield "camera anomaly, no metric", cloudevents.anomaly_event(camera_anomaly(), bare_cell, SOURCE)
    yield "device-health alert", cloudevents.anomaly_event(health_anomaly(), cell, SOURCE)
    yield "cell with data", cloudevents.cell_state_event(
        CellState("410204001002007", Level.WARNING, {"pm25": 96.4, "smoke": 0.0}, T0, 1), cell, SOURCE, T0 + 1
    )
    yield "cell without data", cloudevents.cell_state_event(CellState("410203002001013"), bare_cell, SOURCE, T0)
    for reason in Reason:
        letter = DeadLetter(reason.value, f"gridtwin/v1/readings/aq-{reason.value}", b'{"values": }', T0, "aq-0012",
                            DESCRIPTIONS[reason])
        yield f"dead letter {reason.value}", cloudevents.dead_letter_event(letter, SOURCE)
    yield "dead letter, binary payload, no device", cloudevents.dead_letter_event(
        DeadLetter("malformed_json", "gridtwin/v1/unknown", b"\xff\xfe\x00", T0), SOURCE
    )
    yield "dead letter, empty payload", cloudevents.dead_letter_event(
        DeadLetter("schema", "gridtwin/v1/readings/aq-0012", b"", T0, "aq-0012"), SOURCE
    )


def test_every_built_event_validates(cell, bare_cell):
    for label, event in built_events(cell, bare_cell):
        json.loads(json.dumps(event))  # what goes on the wire is plain JSON
        assert schemas.errors(schemas.event_schema_name(event), event) == [], label
        schemas.validate("cloudevent", event)
        schemas.validate_event(event)


def test_built_events_carry_exactly_the_documented_members(cell, bare_cell):
    """A member added to or dropped from a builder must be added to or dropped from its schema too."""
    envelope = set(schemas.load_schema("cloudevent")["properties"])
    for label, event in built_events(cell, bare_cell):
        assert set(event) == envelope, label
        data_schema = schemas.load_schema(event["dataschema"].rsplit("/", 1)[1])
        assert set(event["data"]) == set(data_schema["properties"]), label
        assert set(data_schema["required"]) == set(data_schema["properties"]), label


def test_every_change_of_a_case_is_built_and_has_its_event_type(cell, bare_cell):
    from twin.cases.workflow import Action

    types = {e["type"] for label, e in built_events(cell, bare_cell) if label.startswith("case")}
    assert types == set(schemas.load_schema("case-update-cloudevent")["properties"]["type"]["enum"])
    assert types == {f"org.gridtwin.case.{a.past}" for a in Action}


def test_event_schema_name_follows_dataschema(cell):
    event = cloudevents.anomaly_event(threshold_anomaly(), cell, SOURCE)
    assert schemas.event_schema_name(event) == "anomaly-cloudevent"
    with pytest.raises(ValueError, match="not a GridTwin v1 event"):
        schemas.event_schema_name({"dataschema": "https://example.invalid/other.json"})


def _broken(event, path, value):
    event = copy.deepcopy(event)
    *parents, last = path
    node = event
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return event


_DELETE = object()

INVALID_OUTBOUND = [
    # the envelope's CloudEvents version is not 1.0
    ("anomaly", ("specversion",), "0.3"),
    # the envelope lost its id
    ("anomaly", ("id",), _DELETE),
    # a time without a UTC designator or offset
    ("anomaly", ("time",), "2026-11-29T08:00:00"),
    # an anomaly event pointing at another data schema
    ("anomaly", ("dataschema",), "https://gridtwin.invalid/schemas/v1/cell-state.json"),
    # an event type that is no anomaly type
    ("anomaly", ("type",), "org.gridtwin.cell.state"),
    # the subject of an anomaly event is its cell code
    ("anomaly", ("subject",), "Grid 007"),
    # severity outside the level labels
    ("anomaly", ("data", "severity"), "info"),
    # status is opened or cleared
    ("anomaly", ("data", "status"), "closed"),
    # a 14-digit cell code
    ("anomaly", ("data", "cell", "code"), "41020400100200"),
    # the district is the first six digits, as digits
    ("anomaly", ("data", "cell", "district"), "Gulou"),
    # a type that cannot be a topic level
    ("anomaly", ("data", "type"), "pm25/high"),
    # a value as text
    ("anomaly", ("data", "value"), "96.4"),
    # a location without its longitude
    ("anomaly", ("data", "location"), {"lat": 34.79}),
    # no explanation
    ("anomaly", ("data", "explanation"), ""),
    # level names are lower case labels of twin.sensing.catalog.Level
    ("cell", ("data", "level"), "amber"),
    # a negative count of open anomalies
    ("cell", ("data", "open_anomalies"), -1),
    # latest values are numbers (booleans as 0/1)
    ("cell", ("data", "values"), {"smoke": True}),
    # updated_at as epoch seconds instead of RFC 3339
    ("cell", ("data", "updated_at"), T0),
    # a reason that is not in the fixed list
    ("deadletter", ("data", "reason"), "bad_vibes"),
    # the payload is base64, not raw text
    ("deadletter", ("data", "payload"), '{"values": }'),
    # the original topic is required
    ("deadletter", ("data", "topic"), _DELETE),
    # a case event type that is no change of a case
    ("case", ("type",), "org.gridtwin.case.exploded"),
    # the subject of a case event is its case id
    ("case", ("subject",), "410204001002007"),
    # case ids are C-<day>-<number>
    ("case", ("data", "case", "id"), "case-7"),
    # an action that is not in the workflow
    ("case", ("data", "action"), "ignore"),
    # a status that is not in the workflow
    ("case", ("data", "case", "status"), "done"),
    # levels are grid, township, county
    ("case", ("data", "case", "level"), "city"),
    # satisfaction is 1-5
    ("case", ("data", "case", "satisfaction"), 6),
    # seq counts from 1
    ("case", ("data", "seq"), 0),
    # deadlines are RFC 3339, not epoch seconds
    ("case", ("data", "case", "due_at"), T0),
    # a cancel reason outside the kept list
    ("case", ("data", "case", "cancel_reason"), "bored"),
    # allowed actions never include system actions
    ("case", ("data", "case", "allowed_actions"), ["escalate"]),
    # the whole case is required
    ("case", ("data", "case"), _DELETE),
]


@pytest.mark.parametrize("kind, path, value", INVALID_OUTBOUND)
def test_broken_outbound_events_do_not_validate(cell, kind, path, value):
    event = {
        "anomaly": lambda: cloudevents.anomaly_event(threshold_anomaly(), cell, SOURCE),
        "cell": lambda: cloudevents.cell_state_event(
            CellState(cell.code, Level.NORMAL, {"pm25": 12.0}, T0, 0), cell, SOURCE, T0),
        "deadletter": lambda: cloudevents.dead_letter_event(
            DeadLetter("schema", "gridtwin/v1/readings/aq-0012", b"{}", T0, "aq-0012"), SOURCE),
        "case": lambda: cloudevents.case_update_event(case_records()[3], cell, SOURCE),
    }[kind]()
    schemas.validate_event(event)  # valid before the change
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate_event(_broken(event, path, value))


# -- inbound payloads ---------------------------------------------------------

CONTRACT_READING = {  # the example of the product contract
    "ts": "2026-11-29T08:00:00.123Z", "seq": 1042, "values": {"pm25": 35.2, "noise_db": 61.0},
    "battery": 0.82, "loc": {"lat": 34.7972, "lon": 114.3076},
}

VALID_READINGS = [
    CONTRACT_READING,
    {"values": {"pm25": 35.2}},  # only values: the receive time is used
    {"ts": 1795939200, "values": {"noise_db": 61}},  # epoch seconds, integer
    {"ts": 1795939200.123, "values": {"noise_db": 61}},  # epoch seconds with a fraction
    {"ts": "2026-11-29T16:00:00+08:00", "values": {"pm25": 1}},  # an offset instead of Z
    {"ts": "2026-11-29t08:00:00z", "values": {"pm25": 1}},  # RFC 3339 allows lower case t and z
    {"values": {"smoke": True, "manhole_open": False}},  # boolean metrics
    {"seq": 0, "values": {"water_level_cm": -3.5}},  # seq starts at 0; negative values are physical here
    {"values": {"pm25": 1}, "firmware": "1.4.2"},  # unknown members are tolerated (additive changes)
    {"ts": None, "seq": None, "battery": None, "loc": None, "values": {"pm25": 1}},  # null = left out
]

INVALID_READINGS = [
    {},  # no values at all
    {"values": {}},  # values without a metric
    {"values": [35.2]},  # values as a list
    {"values": {"pm25": "35.2"}},  # a number as text
    {"values": {"pm25": None}},  # null is no value
    {"values": {"pm25": {"value": 35.2}}},  # nested object
    {"ts": "2026-11-29T08:00:00", "values": {"pm25": 1}},  # no offset: the time zone would be a guess
    {"ts": "2026-11-29", "values": {"pm25": 1}},  # a date only
    {"ts": "29/11/2026 08:00", "values": {"pm25": 1}},  # not RFC 3339
    {"ts": -1, "values": {"pm25": 1}},  # before the epoch
    {"seq": -1, "values": {"pm25": 1}},  # negative sequence number
    {"seq": 1.5, "values": {"pm25": 1}},  # fractional sequence number
    {"seq": "7", "values": {"pm25": 1}},  # sequence number as text
    {"battery": 82, "values": {"pm25": 1}},  # battery in percent instead of a fraction
    {"loc": {"lat": 34.79}, "values": {"pm25": 1}},  # no longitude
    {"loc": [34.79, 114.34], "values": {"pm25": 1}},  # a coordinate pair instead of an object
    {"loc": {"lat": 114.34, "lon": 34.79}, "values": {"pm25": 1}},  # lat and lon swapped: latitude past 90
    42,  # not an object
]


@pytest.mark.parametrize("payload", VALID_READINGS)
def test_valid_readings(payload):
    assert schemas.errors("reading", payload) == []
    assert schemas.errors("reading-batch", [payload]) == []


@pytest.mark.parametrize("payload", INVALID_READINGS)
def test_invalid_readings(payload):
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate("reading", payload)


def test_reading_batches():
    reading = {"ts": 1795939200, "values": {"pm25": 1.0}}
    schemas.validate("reading-batch", [reading] * 1000)  # the largest buffered upload
    schemas.validate("reading-batch", [CONTRACT_READING, {"values": {"smoke": False}}])  # mixed shapes
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate("reading-batch", [reading] * 1001)  # one too many
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate("reading-batch", [])  # an empty upload carries nothing
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate("reading-batch", [reading, {"values": {}}])  # one bad item
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate("reading-batch", reading)  # an object is a reading, not a batch


CONTRACT_CAMERA_EVENT = {
    "ts": "2026-11-29T08:00:05.000Z", "event_id": "cam-0003-000128", "type": "street_vendor",
    "confidence": 0.91, "state": "start", "zone": "north_gate", "loc": {"lat": 34.7975, "lon": 114.3481},
    "snapshot_url": "http://nvr.local/snapshots/cam-0003-000128.jpg",
}

VALID_CAMERA_EVENTS = [
    CONTRACT_CAMERA_EVENT,
    {"event_id": "e1", "type": "fire", "confidence": 1, "state": "end"},  # the minimum, at full confidence
    {"ts": 1795939205, "event_id": "e1", "type": "illegal_parking", "confidence": 0, "state": "start"},
    {"ts": None, "event_id": "e1", "type": "fire", "confidence": 0.7, "state": "start", "zone": None,
     "loc": None, "snapshot_url": None},  # null = left out
]

INVALID_CAMERA_EVENTS = [
    {"type": "fire", "confidence": 0.9, "state": "start"},  # no event_id
    {"event_id": "", "type": "fire", "confidence": 0.9, "state": "start"},  # empty event_id
    {"event_id": "e1", "confidence": 0.9, "state": "start"},  # no type
    {"event_id": "e1", "type": "street vendor", "confidence": 0.9, "state": "start"},  # a space in the type
    {"event_id": "e1", "type": "a/b", "confidence": 0.9, "state": "start"},  # a topic separator in the type
    {"event_id": "e1", "type": "fire+", "confidence": 0.9, "state": "start"},  # a wildcard cannot be published
    {"event_id": "e1", "type": "x" * 65, "confidence": 0.9, "state": "start"},  # type longer than 64
    {"event_id": "e" * 201, "type": "fire", "confidence": 0.9, "state": "start"},  # event_id longer than 200
    {"event_id": "e1", "type": "fire", "confidence": 0.9, "state": "start", "zone": ""},  # empty zone
    {"event_id": "e1", "type": "fire", "confidence": 91, "state": "start"},  # percent instead of a fraction
    {"event_id": "e1", "type": "fire", "state": "start"},  # no confidence
    {"event_id": "e1", "type": "fire", "confidence": 0.9, "state": "begin"},  # state is start or end
    {"event_id": "e1", "type": "fire", "confidence": 0.9},  # no state
    {"ts": "2026-11-29 08:00", "event_id": "e1", "type": "fire", "confidence": 0.9, "state": "start"},  # bad ts
    [CONTRACT_CAMERA_EVENT],  # one detection per message, never an array
]


@pytest.mark.parametrize("payload", VALID_CAMERA_EVENTS)
def test_valid_camera_events(payload):
    assert schemas.errors("camera-event", payload) == []


@pytest.mark.parametrize("payload", INVALID_CAMERA_EVENTS)
def test_invalid_camera_events(payload):
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate("camera-event", payload)


# -- docs/asyncapi.yaml -------------------------------------------------------


@pytest.fixture(scope="module")
def asyncapi():
    return yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))


def _load(path: Path):
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _pointer(doc, fragment: str):
    node = doc
    for token in [t for t in fragment.split("/") if t]:
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def resolve(ref: str, base: Path):
    """(file, node) that `ref`, written in file `base`, points to; raises when it does not resolve."""
    file_part, _, fragment = ref.partition("#")
    target = (base.parent / file_part).resolve() if file_part else base
    return target, _pointer(_load(target), fragment)


def test_asyncapi_parses_as_asyncapi_3(asyncapi):
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["defaultContentType"] == "application/json"


def test_every_asyncapi_ref_resolves():
    """Follows every $ref from docs/asyncapi.yaml into the schema files and on through theirs."""
    pending, seen = [DOCS / "asyncapi.yaml"], set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for ref in _refs(_load(path)):
            target, _ = resolve(ref, path)  # KeyError / FileNotFoundError name the broken ref
            pending.append(target)
    assert {p.name for p in seen} >= {"asyncapi.yaml", "reading.json", "common.json", "cloudevent.json"}


def test_asyncapi_channel_parameters_match_addresses(asyncapi):
    for name, channel in asyncapi["channels"].items():
        in_address = set(re.findall(r"{(\w+)}", channel["address"]))
        assert in_address == set(channel.get("parameters", {})), name
        assert channel["address"].startswith("gridtwin/v1/"), name


def test_asyncapi_operations_qos_and_retain(asyncapi):
    expected = {  # channel -> (action, qos, retain)
        "readings": ("receive", 1, False),
        "cameraEvents": ("receive", 1, False),
        "deviceStatus": ("receive", 1, True),
        "anomalyEvents": ("send", 1, False),
        "caseUpdates": ("send", 1, False),
        "cellState": ("send", 1, True),
        "deadLetters": ("send", 1, False),
        "fieldReports": ("receive", 1, False),
        "reportAcks": ("send", 1, False),
        "deviceClaims": ("receive", 1, False),
        "claimReplies": ("send", 1, False),
        "gatewayStatus": ("send", 1, True),
    }
    found = {}
    for name, op in asyncapi["operations"].items():
        channel = op["channel"]["$ref"].removeprefix("#/channels/")
        mqtt = op["bindings"]["mqtt"]
        found[channel] = (op["action"], mqtt["qos"], mqtt["retain"])
        for message in op["messages"]:
            assert message["$ref"].startswith(f"#/channels/{channel}/messages/"), name
    assert found == expected


def test_asyncapi_case_updates_are_published_with_their_schema(asyncapi):
    assert "x-gridtwin-status" not in asyncapi["channels"]["caseUpdates"]
    assert "x-gridtwin-status" not in asyncapi["operations"]["sendCaseUpdates"]
    payload = asyncapi["components"]["messages"]["caseUpdate"]["payload"]
    assert payload["schema"]["$ref"] == "schemas/case-update-cloudevent.json"


def test_asyncapi_deadletter_reason_parameter_is_the_fixed_list(asyncapi):
    assert asyncapi["channels"]["deadLetters"]["parameters"]["reason"]["enum"] == [r.value for r in Reason]


def test_asyncapi_examples_validate_against_their_payload(asyncapi):
    checked = 0
    for name, message in asyncapi["components"]["messages"].items():
        payload = message["payload"]
        for example in message.get("examples", []):
            if "schema" in payload:
                schema_name = Path(payload["schema"]["$ref"]).stem
                assert schemas.errors(schema_name, example["payload"]) == [], (name, example["name"])
            else:
                jsonschema.validate(example["payload"], payload)
            checked += 1
    assert checked >= 8


# -- docs/mqtt.md -------------------------------------------------------------


def _generated_block(text: str, title: str) -> str:
    match = re.search(rf"<!-- BEGIN generated: {title} .*?-->\n(.*?)<!-- END generated: {title} -->", text, re.S)
    assert match, f"docs/mqtt.md lost its generated block '{title}'"
    return match.group(1)


def _num(x) -> str:
    return "—" if x is None else f"{x:g}"


def metric_table() -> str:
    rows = ["| Metric | Label | Unit | Kind | Valid range | Warning | Critical | Alarm |", "|---|---|---|---|---|---|---|---|"]
    for m in DEFAULT_METRICS:
        if m.valid_min is None and m.valid_max is None:
            valid = "—"
        else:
            valid = f"{_num(m.valid_min)} to {_num(m.valid_max)}"
        if m.kind == "bool":
            alarm = "critical when true" if m.alarm_on_true else "none"
        elif m.warning is None and m.critical is None:
            alarm = "none"
        else:
            alarm = f"{m.direction}, hysteresis {_num(m.hysteresis)}"
        unit = f"`{m.unit}`" if m.unit else "—"
        rows.append(
            f"| `{m.name}` | {m.label} | {unit} | {m.kind} | {valid} | {_num(m.warning)} | {_num(m.critical)} | {alarm} |"
        )
    return "\n".join(rows) + "\n"


def reason_table() -> str:
    rows = ["| Reason | Meaning |", "|---|---|"]
    rows += [f"| `{r.value}` | {DESCRIPTIONS[r]} |" for r in Reason]
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def mqtt_md():
    return (DOCS / "mqtt.md").read_text(encoding="utf-8")


def test_mqtt_md_lists_every_deadletter_reason(mqtt_md):
    block = _generated_block(mqtt_md, "dead-letter reasons")
    for reason in Reason:
        assert f"| `{reason.value}` |" in block, reason
    assert block == reason_table(), "docs/mqtt.md dead-letter table is out of date; replace it with:\n" + reason_table()


def test_mqtt_md_lists_every_default_metric_with_its_unit(mqtt_md):
    block = _generated_block(mqtt_md, "metric catalog")
    for metric in DEFAULT_METRICS:
        row = next((line for line in block.splitlines() if line.startswith(f"| `{metric.name}` |")), None)
        assert row is not None, metric.name
        assert (f"`{metric.unit}`" if metric.unit else "—") in row, metric.name
    assert block == metric_table(), "docs/mqtt.md metric table is out of date; replace it with:\n" + metric_table()


def test_mqtt_md_names_every_topic(mqtt_md, asyncapi):
    for channel in asyncapi["channels"].values():
        assert f"`{channel['address']}`" in mqtt_md, channel["address"]


# -- field reports: the schema and the gateway's parser agree ----------------------------

VALID_REPORTS = [
    {"type": "pothole", "loc": {"lat": 34.795, "lon": 114.335}},  # the minimum
    {"report_id": "p-1", "ts": "2026-11-29T08:10:00+08:00", "type": "illegal_parking", "note": "by the gate",
     "loc": {"lat": 34.795, "lon": 114.335}, "photo_url": "https://photos.local/1.jpg"},  # everything
    {"ts": 1795939200, "type": "litter", "loc": {"lat": 34.795, "lon": 114.335}},  # epoch seconds
]
INVALID_REPORTS = [
    {"loc": {"lat": 34.795, "lon": 114.335}},  # no type
    {"type": "Pot Hole", "loc": {"lat": 34.795, "lon": 114.335}},  # not a case type
    {"type": "pothole"},  # no place
    {"type": "pothole", "loc": {"lat": 134.0, "lon": 34.795}},  # latitude past 90
    {"type": "pothole", "loc": {"lat": 34.795, "lon": 114.335}, "photo_url": "ftp://x/1.jpg"},  # not http(s)
    {"type": "pothole", "loc": {"lat": 34.795, "lon": 114.335}, "note": "x" * 2001},  # note too long
    {"type": "pothole", "loc": {"lat": 34.795, "lon": 114.335}, "reporter": "someone-else"},  # unknown member
    {"type": "pothole", "loc": {"lat": 34.795, "lon": 114.335}, "report_id": "a/b"},  # not an id
]


@pytest.mark.parametrize("payload", VALID_REPORTS)
def test_valid_reports_are_taken_by_the_parser(payload):
    from tests.gateway.conftest import small_grid
    from twin.cases.reports import parse_report

    assert schemas.errors("report", payload) == []
    report = parse_report(payload, reporter_id="rider-7", channel="mqtt", now=T0, grid=small_grid())
    assert report.cell_code == "410204001001001"


@pytest.mark.parametrize("payload", INVALID_REPORTS)
def test_invalid_reports_are_refused_by_both(payload):
    from tests.gateway.conftest import small_grid
    from twin.cases.reports import ReportError, parse_report

    with pytest.raises(jsonschema.ValidationError):
        schemas.validate("report", payload)
    with pytest.raises(ReportError):
        parse_report(payload, reporter_id="rider-7", channel="mqtt", now=T0, grid=small_grid())


def test_a_claim_reply_bundle_validates():
    from twin.config import Settings
    from twin.devices.device import Device, DeviceKind
    from twin.devices.provisioning import device_bundle

    bundle = device_bundle(Settings(), Device("aq-1", DeviceKind.SENSOR, 34.79, 114.33), "x" * 22, now=T0)
    assert schemas.errors("claim-reply", bundle) == []
    assert schemas.errors("claim-reply", {"error": "used", "code": "used"}) == []
    assert schemas.errors("claim-reply", {"password": "short"}) != []

