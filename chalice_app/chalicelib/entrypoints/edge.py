"""The HTTP edge every route shares: one error shape, media types, sizes, CORS.

``install(app, allowed_origins)`` (called by app.py before any other
middleware, so it is the outermost) adds an ``http`` middleware that, before
a route runs (and before authentication), answers CORS preflight, refuses a
method the path does not declare (405), a body that is not
``application/json`` (415: form and text bodies are never read as JSON, so a
web page cannot send one without a CORS preflight) and a body over
MAX_BODY_BYTES (413); after it, answers any unhandled error as 500 and
rewrites Chalice's own ``{"Code","Message"}`` errors into
``{"error","message","details"}``; and adds CORS headers for allowed origins
only.

``route_other_methods(app)`` (called by app.py after its last route)
registers, on every path, a view for each method the path does not declare
and for OPTIONS, so API Gateway hands those requests to the Lambda (and so to
the middleware) instead of answering 403 itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final, Literal, get_args

import orjson
from chalice import Chalice, Response
from chalice.app import Request

from chalicelib.domain.exceptions import (
    ApiError,
    DomainError,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from chalicelib.domain.json_body import MAX_BODY_BYTES

__all__ = [
    "BODY_METHODS",
    "HEALTH_BODY",
    "JSON_MEDIA_TYPE",
    "MAX_PATH_PARAMETER_LENGTH",
    "METHODS",
    "HealthStatus",
    "error_body",
    "install",
    "is_fallback",
    "is_json_media_type",
    "route_other_methods",
    "status_error",
]

logger = logging.getLogger(__name__)

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON_MEDIA_TYPE = "application/json"
ALLOWED_REQUEST_HEADERS = "Authorization, Content-Type, Idempotency-Key"
PREFLIGHT_MAX_AGE_SECONDS = 600
# No id this API issues is longer; DynamoDB rejects keys over 2 KB with a 500-worthy error.
MAX_PATH_PARAMETER_LENGTH = 256
# Error codes of statuses an ApiError subclass does not raise (Chalice's own, API Gateway's).
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}
FALLBACK_PREFIX = "not_routed_"
# GET /health's status: the one value its response model (api_models.Health) admits.
HealthStatus = Literal["ok"]
# GET /health's body, serialized once. Its model admits this body alone, so shaping it
# (roots.responses) would change nothing: sent as it is, the liveness check imports no
# pydantic (tests/tools/test_cold_import.py; bench_cold_start.py measures it).
HEALTH_BODY: Final = orjson.dumps({"status": get_args(HealthStatus)[0]}).decode()
Middleware = Callable[[Request, Callable[[Request], Response]], Response]


def error_body(error: DomainError) -> dict[str, Any]:
    """The documented error body ``{"error","message","details"}`` of ``error``.

    The one writer of that shape: domain errors (chalicelib.entrypoints.http), the edge's
    own refusals, Chalice's rewritten errors and every 500 go through it.
    """
    return {"error": error.code, "message": error.message, "details": list(error.details)}


def status_error(status_code: int, message: str) -> DomainError:
    """The error of a bare status (Chalice's own errors, an unhandled 500), coded by status."""
    return DomainError(message, code=STATUS_CODES.get(status_code, "error"))


def is_json_media_type(content_type: str) -> bool:
    """``application/json``, optionally with a UTF-8 ``charset`` parameter."""
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    if media_type != JSON_MEDIA_TYPE:
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() != "charset" or value.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


def _json(status_code: int, body: dict[str, Any], headers: Mapping[str, Any]) -> Response:
    return Response(
        body=orjson.dumps(body).decode(),
        status_code=status_code,
        headers={**headers, "Content-Type": JSON_MEDIA_TYPE},
    )


def _error_response(error: ApiError, headers: dict[str, str]) -> Response:
    return _json(error.status_code, error_body(error), headers)


def _not_routed() -> Response:
    # Never reached: the middleware answers these methods before any view.
    raise MethodNotAllowed("method not allowed")


def _check_body(request: Request) -> ApiError | None:
    headers = request.headers
    content_type = headers.get("content-type")
    raw = request.raw_body
    length = headers.get("content-length", "")
    declared = int(length) if length.isdigit() else 0
    if max(declared, len(raw or b"")) > MAX_BODY_BYTES:
        return PayloadTooLarge(
            f"the request body exceeds {MAX_BODY_BYTES} bytes",
            details=[{"field": "body", "message": f"must be at most {MAX_BODY_BYTES} bytes"}],
        )
    if content_type is None and not raw:
        return None
    if content_type is None or not is_json_media_type(content_type):
        return UnsupportedMediaType(
            "request bodies must be application/json",
            details=[{"field": "Content-Type", "message": "must be application/json"}],
        )
    return None


def _conform(response: Response) -> Response:
    """Chalice's own errors (``{"Code","Message"}``) in the documented shape."""
    if response.status_code < 400:
        return response
    body = response.body
    if isinstance(body, (str, bytes)):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            body = {"Message": "request failed"}
    if isinstance(body, dict) and {"error", "message", "details"} <= set(body):
        return response
    message = str(body.get("Message") or body.get("message") or "request failed")
    if response.status_code >= 500:
        message = "internal server error"
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    return _json(
        response.status_code, error_body(status_error(response.status_code, message)), headers
    )


def _declared(app: Chalice, path: str) -> frozenset[str]:
    entries = app.routes.get(path, {})
    return frozenset(method for method, entry in entries.items() if not is_fallback(entry))


def _middleware(app: Chalice, allowed_origins: frozenset[str]) -> Middleware:
    def edge(request: Request, get_response: Callable[[Request], Response]) -> Response:
        path = request.context.get("resourcePath", "")
        methods = _declared(app, path)
        origin = request.headers.get("origin")
        cors = (
            {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
            if origin is not None and origin in allowed_origins
            else {"Vary": "Origin"}
        )
        allow = ", ".join(sorted(methods | {"OPTIONS"}))
        if request.method == "OPTIONS":
            preflight = dict(cors)
            if "Access-Control-Allow-Origin" in cors:
                preflight.update(
                    {
                        "Access-Control-Allow-Methods": allow,
                        "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
                        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
                    }
                )
            return Response(body="", status_code=204, headers={**preflight, "Allow": allow})
        if request.method not in methods:
            refused = MethodNotAllowed(
                f"{request.method} is not allowed on this resource; allowed: {allow}"
            )
            return _error_response(refused, {**cors, "Allow": allow})
        error = _check_body(request) if request.method in BODY_METHODS else None
        if error is not None:
            return _error_response(error, cors)
        try:
            response = _conform(get_response(request))
        except Exception:
            logger.exception("unhandled error on %s %s", request.method, path)
            response = _json(500, error_body(status_error(500, "internal server error")), {})
        response.headers.update(cors)
        return response

    return edge


def is_fallback(entry: Any) -> bool:
    """Whether a Chalice route entry is one ``install`` added (405 / preflight)."""
    return str(entry.view_name).startswith(FALLBACK_PREFIX)


def install(app: Chalice, allowed_origins: Collection[str]) -> None:
    """Register the edge middleware; call it before any other ``http`` middleware."""
    app.register_middleware(_middleware(app, frozenset(allowed_origins)), "http")


def route_other_methods(app: Chalice) -> None:
    """Route every other method (and OPTIONS) of every path to the edge; after the last route."""
    for path, entries in list(app.routes.items()):
        others = [m for m in (*METHODS, "OPTIONS") if m not in entries]
        name = FALLBACK_PREFIX + path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
        app.route(path, methods=others, name=name)(_not_routed)
