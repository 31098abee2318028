"""The OpenAPI 3.1 document: generated from the code, valid, complete, committed, served."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import write_openapi
from chalice import Chalice
from openapi_spec_validator import validate

from chalicelib.domain.inputs import INSTANT_PATTERN, NON_BLANK_TEXT_PATTERN, TEXT_PATTERN
from chalicelib.domain.money import AMOUNT_PATTERN, MAX_AMOUNT
from chalicelib.entrypoints import edge
from chalicelib.entrypoints.api_models import RESPONSES
from chalicelib.entrypoints.api_routes import OPERATIONS
from chalicelib.entrypoints.openapi import UndocumentedRoute, build_document, documented_routes
from projections.catalogue import DATA_TYPES

PUBLIC = {("GET", "/health"), ("GET", "/openapi.json")}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return write_openapi.document()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_the_committed_openapi_json_is_current(document: dict[str, Any]) -> None:
    # Fails when a route or model changed: run `make openapi` and commit openapi.json.
    assert write_openapi.DEFAULT_OUTPUT.read_text() == write_openapi.render(document)


def test_every_route_is_described_and_every_description_is_a_route(
    document: dict[str, Any],
) -> None:
    routes = documented_routes(write_openapi.app.app.routes)
    described = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert described == {(method, path) for path, method, _ in routes}
    assert {entry.view_name for _, _, entry in routes} == set(OPERATIONS)
    # AND each route's success bodies (what response shaping reads) are declared
    assert {entry.view_name for _, _, entry in routes} == set(RESPONSES)


def test_only_health_and_the_document_are_public(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            public = (method.upper(), path) in PUBLIC
            assert (operation.get("security") == []) is public, (method, path)
            assert ("401" in operation["responses"]) is not public, (method, path)


def test_every_error_response_is_the_error_shape(document: dict[str, Any]) -> None:
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "500" in operation["responses"]
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == error_ref


def test_requests_and_parameters_come_from_the_validating_models(
    document: dict[str, Any],
) -> None:
    deposit = document["paths"]["/accounts/{account_id}/deposits"]["post"]
    assert deposit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Transfer"
    }
    amount = document["components"]["schemas"]["Transfer"]["properties"]["amount"]
    assert amount["anyOf"][0]["pattern"] == AMOUNT_PATTERN
    names = {p["name"]: p["in"] for p in deposit["parameters"]}
    assert names == {"account_id": "path", "Idempotency-Key": "header"}
    search = {p["name"] for p in document["paths"]["/search"]["get"]["parameters"]}
    assert search == {"type", "subject", "q", "from", "to", "size"}
    statuses = {"201", "400", "401", "404", "409", "413", "415", "422", "500", "503"}
    assert set(deposit["responses"]) == statuses


def test_an_undocumented_route_fails_generation() -> None:
    # GIVEN a route with no entry in api_routes.OPERATIONS
    app = Chalice(app_name="undocumented")

    @app.route("/nowhere", methods=["GET"])
    def nowhere() -> dict[str, str]:
        return {}

    edge.route_other_methods(app)
    # THEN the document cannot be built (adding a route means adding its entry)
    with pytest.raises(UndocumentedRoute, match="nowhere"):
        build_document(app.routes)


def test_a_route_without_response_models_fails_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a documented route whose success bodies are not declared in api_models.RESPONSES
    monkeypatch.delitem(RESPONSES, "get_user")
    # THEN the document cannot be built
    with pytest.raises(UndocumentedRoute, match="get_user"):
        build_document(write_openapi.app.app.routes)


def _query(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    (parameter,) = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    return dict(parameter["schema"])


def test_every_rule_the_api_enforces_is_in_the_schema(document: dict[str, Any]) -> None:
    # GIVEN the published document
    schemas = document["components"]["schemas"]
    # THEN instants state the years 1970..9999 (a blank search bound is no bound)
    assert _query(document, "/accounts/{account_id}", "at")["pattern"] == INSTANT_PATTERN
    assert _query(document, "/gdpr/consents/{user_id}", "at")["pattern"] == INSTANT_PATTERN
    for bound in ("from", "to"):
        pattern = _query(document, "/search", bound)["pattern"]
        assert INSTANT_PATTERN[1:-1] in pattern and pattern.startswith("^(?:[")
    # AND a statement's month is yyyy-mm
    statement = document["paths"]["/accounts/{account_id}/statements/{month}"]["get"]
    (month,) = [p for p in statement["parameters"] if p["name"] == "month"]
    assert month["schema"]["pattern"] == "^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])$"
    # AND amounts are > 0 with at most 2 decimals, as a string or a number
    for body in ("Transfer", "MakePurchase"):
        text, number = schemas[body]["properties"]["amount"]["anyOf"]
        assert text == {"type": "string", "pattern": AMOUNT_PATTERN}
        assert number == {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_AMOUNT,
            "multipleOf": 0.01,
        }
    # AND free text refuses control characters; a person's names are not blank
    user = schemas["RegisterUser"]["properties"]
    assert user["name"]["pattern"] == user["lastname"]["pattern"] == NON_BLANK_TEXT_PATTERN
    assert schemas["MakePurchase"]["properties"]["order_id"]["pattern"] == NON_BLANK_TEXT_PATTERN
    line, parts = user["address"]["oneOf"]
    assert line["pattern"] == NON_BLANK_TEXT_PATTERN
    assert parts["propertyNames"]["pattern"] == NON_BLANK_TEXT_PATTERN
    assert parts["additionalProperties"]["pattern"] == TEXT_PATTERN
    assert "patternProperties" not in parts
    # AND an object that refuses unknown fields says so
    assert schemas["RequestConsents"]["additionalProperties"] is False


def test_each_event_type_is_documented_with_its_data_from_the_catalogue(
    document: dict[str, Any],
) -> None:
    # GIVEN the published document and the event catalogue
    schemas = document["components"]["schemas"]
    # WHEN reading the event schema's variants
    variants = {
        v["allOf"][1]["properties"]["type"]["const"]: v["allOf"][1]["properties"]["data"]["$ref"]
        for v in schemas["Event"]["oneOf"]
    }
    # THEN there is one per declared type, whose data is that type's struct as msgspec states it
    assert set(variants) == set(DATA_TYPES)
    for event_type, ref in variants.items():
        data_type = DATA_TYPES[event_type]
        _, declared = msgspec.json.schema_components(
            [data_type], ref_template="#/components/schemas/EventData.{name}"
        )
        assert ref == f"#/components/schemas/EventData.{data_type.__name__}"
        assert schemas[ref.rsplit("/", 1)[1]] == declared[data_type.__name__]
        assert set(declared[data_type.__name__]["properties"]) == set(data_type.__struct_fields__)
