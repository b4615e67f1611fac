"""The OpenAPI document: valid 3.1, complete, and true to what the handlers answer."""

from __future__ import annotations

import jsonschema
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from tests.maps.common import A, T0, centre


@pytest.fixture
async def document(client):
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def check(document: dict, schema_name: str, instance) -> None:
    """Validate `instance` against a component schema, resolving refs inside the document."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


async def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_document_names_every_route_and_no_other(client, document):
    routes = {(r.path, method.lower()) for r in client.app.routes if isinstance(r, Route)
              for method in r.methods if method != "HEAD"}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented


async def test_metric_parameter_lists_the_catalog(document, settings):
    series = document["paths"]["/api/cells/{code}/series"]["get"]
    metric = next(p for p in series["parameters"] if p["name"] == "metric")
    assert metric["required"] is True
    assert set(metric["schema"]["enum"]) == set(settings.metrics.names())


async def test_answers_match_the_schemas(client, document):
    check(document, "CellCollection", (await client.get("/api/cells")).json())
    check(document, "CellCollection", (await client.get("/api/cells?geometry=false")).json())
    check(document, "CellFeature", (await client.get(f"/api/cells/{A}")).json())
    check(document, "Series", (await client.get(f"/api/cells/{A}/series?metric=pm25&from={T0}&to={T0 + 600}")).json())
    check(document, "Series",
          (await client.get(f"/api/cells/{A}/series?metric=pm25&from={T0}&to={T0 + 600}&bucket=5m")).json())
    check(document, "DeviceList", (await client.get("/api/devices")).json())
    check(document, "Device", (await client.get("/api/devices/cam-1")).json())
    lat, lon = centre(A)
    created = await client.post("/api/devices", json={"id": "doc-1", "kind": "sensor", "lat": lat, "lon": lon})
    check(document, "Device", created.json())
    check(document, "EventList", (await client.get("/api/events")).json())
    check(document, "Health", (await client.get("/healthz")).json())
    check(document, "Error", (await client.get("/api/cells/1")).json())
    check(document, "Error", (await client.post("/api/devices", json={"id": "doc-2"})).json())


async def test_schemas_reject_what_the_api_would_not_send(document):
    with pytest.raises(jsonschema.ValidationError):
        check(document, "Device", {"id": "x"})
    with pytest.raises(jsonschema.ValidationError):
        check(document, "DeviceInput", {"id": "x-1", "kind": "drone"})
