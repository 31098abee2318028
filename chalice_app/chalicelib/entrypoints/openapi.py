"""The OpenAPI 3.1 document of the HTTP API, generated from the code.

Paths, methods and path parameters are the Chalice app's routes; request
and query schemas are the pydantic models of api_routes.OPERATIONS, response
schemas those of api_models.RESPONSES (the same models that validate
requests and shape responses); error
responses are derived from each route's traits. Nothing here is written a
second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from pydantic import BaseModel

from chalicelib.adapters.idempotency import MAX_KEY_LENGTH
from chalicelib.domain.json_body import MAX_BODY_BYTES
from chalicelib.entrypoints import api_models
from chalicelib.entrypoints.api_routes import OPERATIONS, Operation
from chalicelib.entrypoints.edge import BODY_METHODS, MAX_PATH_PARAMETER_LENGTH, is_fallback
from projections.catalogue import DATA_TYPES

__all__ = ["API_VERSION", "UndocumentedRoute", "build_document", "documented_routes"]

API_VERSION = "1.0.0"
_REF = "#/components/schemas/{model}"
# Descriptions of the error statuses routes share.
_ERRORS: dict[int, str] = {
    400: "Invalid input (`validation_error`); `details` name each field and its rule in words.",
    401: "Missing or invalid bearer token (`unauthorized`).",
    404: "No such resource, or not the caller's (`not_found`).",
    413: f"The body exceeds {MAX_BODY_BYTES} bytes (`payload_too_large`).",
    415: "The body is not `application/json` (`unsupported_media_type`).",
    422: "The Idempotency-Key was used with another body (`idempotency_key_reused`).",
    500: "Unexpected failure (`internal_error`); nothing internal is shown.",
    503: "The user pool's signing keys cannot be fetched right now (`identity_unavailable`).",
}


class UndocumentedRoute(LookupError):
    """A Chalice route with no entry in api_routes.OPERATIONS or api_models.RESPONSES."""


class _Schemas:
    """Collects component schemas and answers ``$ref``s to them."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, str]:
        schema = model.model_json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
        self.components.update(schema.pop("$defs", {}))
        self.components[model.__name__] = schema
        return {"$ref": _REF.format(model=model.__name__)}

    def parameters(self, model: type[BaseModel]) -> list[dict[str, Any]]:
        schema = model.model_json_schema(ref_template=_REF, by_alias=True)
        required = set(schema.get("required", []))
        params = []
        for name, prop in schema["properties"].items():
            prop = dict(prop)
            description = prop.pop("description", "")
            prop.pop("title", None)
            if prop.get("default", 0) is None:
                del prop["default"]
            # `str | None = None` is "absent or a string" in a query string: a string.
            variants = [v for v in prop.pop("anyOf", []) if v.get("type") != "null"]
            if variants:
                prop = {**variants[0], **prop}
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": prop,
            }
            if description:
                param["description"] = description
            params.append(param)
        return params


def documented_routes(routes: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, Any]]:
    """``(path, method, route entry)`` of every route the document describes."""
    found = []
    for path, entries in sorted(routes.items()):
        for method, entry in sorted(entries.items()):
            if not is_fallback(entry):
                found.append((path, method, entry))
    return found


def _error_statuses(method: str, entry: Any, operation: Operation) -> dict[int, str]:
    statuses: dict[int, str] = {500: _ERRORS[500]}
    if operation.body is not None or operation.query is not None:
        statuses[400] = _ERRORS[400]
    if not operation.public:
        statuses[401] = _ERRORS[401]
        statuses[503] = _ERRORS[503]
    if entry.view_args:
        statuses[404] = _ERRORS[404]
    if method in BODY_METHODS:
        statuses.update({s: _ERRORS[s] for s in (400, 413, 415, 422)})
    statuses.update(operation.errors)
    return statuses


def _path_schema(name: str, operation: Operation) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_PATH_PARAMETER_LENGTH,
    }
    if name in operation.path_patterns:
        schema["pattern"] = operation.path_patterns[name]
    return schema


def _operation(
    path: str,
    method: str,
    entry: Any,
    operation: Operation,
    successes: Mapping[int, type[BaseModel] | None],
    schemas: _Schemas,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": entry.view_name,
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.description:
        doc["description"] = operation.description
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(name, operation)}
        for name in entry.view_args
    ]
    if operation.query is not None:
        parameters += schemas.parameters(operation.query)
    if method == "POST":
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Repeat a POST safely: the same key and body get the first "
                "response and append nothing; the same key with another body is 422.",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
            }
        )
    if parameters:
        doc["parameters"] = parameters
    if operation.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.ref(operation.body, "validation")}},
        }
    responses: dict[str, Any] = {}
    for status, model in sorted(successes.items()):
        schema = schemas.ref(model, "serialization") if model else {"type": "object"}
        responses[str(status)] = {
            "description": (model.__doc__ or model.__name__).strip().splitlines()[0]
            if model
            else "A JSON object",
            "content": {"application/json": {"schema": schema}},
        }
    for status, description in sorted(_error_statuses(method, entry, operation).items()):
        responses[str(status)] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}},
        }
    doc["responses"] = responses
    if operation.public:
        doc["security"] = []
    return doc


_EVENT_DATA_REF = "#/components/schemas/EventData.{name}"


def _events_typed_by_the_catalogue(components: dict[str, Any]) -> None:
    """Each event type's ``data`` schema, from the event catalogue (declared once there).

    ``Event`` becomes one variant per type: the envelope, that ``type`` and
    that type's data (its current version: readers only ever see that one).
    """
    envelope = components.get("Event")
    if envelope is None:
        return
    _, data = msgspec.json.schema_components(
        list(DATA_TYPES.values()), ref_template=_EVENT_DATA_REF
    )
    components.update({f"EventData.{name}": schema for name, schema in data.items()})
    components["EventEnvelope"] = envelope
    components["Event"] = {
        "description": envelope.get("description", "A CloudEvents 1.0 event of the platform."),
        "oneOf": [
            {
                "allOf": [
                    {"$ref": _REF.format(model="EventEnvelope")},
                    {
                        "properties": {
                            "type": {"const": event_type},
                            "data": {"$ref": _EVENT_DATA_REF.format(name=data_type.__name__)},
                        }
                    },
                ]
            }
            for event_type, data_type in sorted(DATA_TYPES.items())
        ],
    }


def build_document(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (a Chalice app's ``routes``)."""
    schemas = _Schemas()
    schemas.ref(api_models.ErrorBody, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for path, method, entry in documented_routes(routes):
        operation = OPERATIONS.get(entry.view_name)
        successes = api_models.RESPONSES.get(entry.view_name)
        if operation is None or successes is None:
            raise UndocumentedRoute(
                f"{method} {path} ({entry.view_name}) has no entry in api_routes.OPERATIONS "
                "or api_models.RESPONSES"
            )
        paths.setdefault(path, {})[method.lower()] = _operation(
            path, method, entry, operation, successes, schemas
        )
    _events_typed_by_the_catalogue(schemas.components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Event platform API",
            "version": API_VERSION,
            "description": "Users, accounts and purchases of an event-sourced platform. "
            'Every error is `{"error", "message", "details"}`. Bodies are '
            f"`application/json` (at most {MAX_BODY_BYTES} bytes); unknown routes answer "
            "404 and other methods 405 in the same shape.",
        },
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "`Authorization: Bearer <access token>` of the platform's "
                    "Amazon Cognito user pool.",
                }
            },
        },
    }
