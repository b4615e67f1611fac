"""The OpenAPI document: valid 3.1, complete, and true to what the handlers answer."""

from __future__ import annotations

import jsonschema
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from maps.openapi import openapi_document
from tests.maps.common import T0, A, centre


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


def conforms(document: dict, method: str, template: str, response) -> None:
    """What schemathesis checks of an answer: its status is documented for the operation, with the answer's
    media type, and a JSON body matches the schema."""
    operation = document["paths"][template][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {template} answered {status}, which is not documented"
    answer = operation["responses"][status]
    if "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    media = response.headers.get("content-type", "").split(";")[0]
    assert media in answer.get("content", {}), f"{method} {template} {status}: {media} is not documented"
    if media.endswith("json"):
        schema = answer["content"][media]["schema"] | {"components": document["components"]}
        jsonschema.Draft202012Validator(schema).validate(response.json())


async def test_every_answer_good_or_bad_is_described(client, document):
    lat, lon = centre(A)
    exchanges = [
        ("GET", "/api/cells", "/api/cells?geometry=false"),
        ("GET", "/api/cells", "/api/cells?geometry=maybe"),  # 400
        ("GET", "/api/cells/history", "/api/cells/history?step=1h"),
        ("GET", "/api/cells/history", "/api/cells/history?step=1s"),  # 400: too many frames
        ("GET", "/api/cells/{code}", f"/api/cells/{A}"),
        ("GET", "/api/cells/{code}", "/api/cells/1"),  # 404
        ("GET", "/api/cells/{code}/series", f"/api/cells/{A}/series?metric=pm25&from={T0}&to={T0 + 600}"),
        ("GET", "/api/cells/{code}/series", f"/api/cells/{A}/series?metric=radon"),  # 400
        ("GET", "/api/devices", "/api/devices?status=lost"),  # 400
        ("GET", "/api/devices/{id}", "/api/devices/aq-1"),
        ("GET", "/api/devices/{id}", "/api/devices/nope"),  # 404
        ("POST", "/api/devices", "/api/devices", {"id": "doc-3", "kind": "sensor", "lat": lat, "lon": lon}),
        ("POST", "/api/devices", "/api/devices", {"id": "doc-3", "kind": "sensor", "lat": lat, "lon": lon}),  # 409
        ("POST", "/api/devices", "/api/devices", {"id": 7, "kind": "drone", "lat": "north"}),  # 422
        ("POST", "/api/devices/{id}/placement", "/api/devices/aq-1/placement", {"lat": lat, "lon": lon}),
        ("POST", "/api/devices/{id}/credentials", "/api/devices/aq-1/credentials", {}),
        ("POST", "/api/devices/{id}/credentials", "/api/devices/aq-1/credentials", {"rotate": "yes"}),  # 422
        ("DELETE", "/api/devices/{id}/credentials", "/api/devices/aq-1/credentials", None),
        ("POST", "/api/devices/{id}/claim-code", "/api/devices/aq-2/claim-code", {}),
        ("GET", "/api/locate", f"/api/locate?lat={lat}&lon={lon}"),
        ("GET", "/api/events", "/api/events?limit=0"),  # 400
        ("GET", "/api/cases", "/api/cases?status=lost"),  # 400
        ("POST", "/api/cases", "/api/cases", {"type": "pothole", "cell": A}),
        ("POST", "/api/cases", "/api/cases", {"type": "Pot Hole", "cell": "1"}),  # 422
        ("GET", "/api/cases/{id}", "/api/cases/C-nope"),  # 404
        ("POST", "/api/cases/{id}/transitions", "/api/cases/C-nope/transitions", {"action": "file"}),  # 404
        ("GET", "/api/audit", "/api/audit"),
        ("GET", "/api/kpi", "/api/kpi?format=csv"),
        ("GET", "/api/reports", "/api/reports"),
        ("GET", "/api/reporters/leaderboard", "/api/reporters/leaderboard?district=41"),  # 400
        ("GET", "/api/me", "/api/me"),
        ("POST", "/api/login", "/api/login", {"name": "nobody", "password": "wrong"}),  # 401
        ("POST", "/api/login", "/api/login", {"name": "nobody"}),  # 422
        ("POST", "/api/logout", "/api/logout", None),
        ("GET", "/metrics", "/metrics"),
        ("GET", "/healthz", "/healthz"),
        ("GET", "/wall", "/wall?lang=zh"),
    ]
    for method, template, url, *body in exchanges:
        kwargs = {"json": body[0]} if body and body[0] is not None else {}
        response = await client.request(method, url, **kwargs)
        conforms(document, method, template, response)
    refused = await client.get("/api/cells", headers={"Authorization": "Bearer not-a-token"})
    conforms(document, "GET", "/api/cells", refused)  # 401 before any handler
    conforms(document, "GET", "/api/events", await client.get("/api/events?cell=%00"))  # 400 before any handler


def test_a_route_nobody_described_fails_the_document(settings):
    async def undescribed(request):
        return None

    with pytest.raises(LookupError, match="GET /api/secret is not described"):
        openapi_document(settings, [Route("/api/secret", undescribed, methods=["GET"])])
