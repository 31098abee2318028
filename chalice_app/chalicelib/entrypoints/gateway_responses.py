"""API Gateway's own answers, in the documented error shape.

API Gateway answers some requests without calling the Lambda: a path no
resource matches (403 "Missing Authentication Token"), a body over its
10 MB limit, throttling, an integration failure. Its *gateway responses*
can be given a status and a body template; ``scripts/post_deploy.py`` puts
these after ``chalice deploy`` (Chalice cannot declare them), and the local
stack's ``chalice local`` applies the same table (local_aws/chalice_local.py).
"""

from __future__ import annotations

import msgspec

__all__ = ["GATEWAY_RESPONSES", "GatewayResponse"]


class GatewayResponse(msgspec.Struct, frozen=True):
    """One gateway response type: status (None keeps API Gateway's), code and message."""

    status_code: int | None
    code: str
    message: str

    def template(self) -> str:
        """The application/json body template (a VTL string API Gateway renders)."""
        # $context.error.messageString is API Gateway's message, already a quoted JSON string.
        message = '"' + self.message + '"' if self.message else "$context.error.messageString"
        return f'{{"error":"{self.code}","message":{message},"details":[]}}'


GATEWAY_RESPONSES: dict[str, GatewayResponse] = {
    # Unknown paths (and methods on them): 404 like the documented unknown-route answer.
    "MISSING_AUTHENTICATION_TOKEN": GatewayResponse(404, "not_found", "no such route"),
    # The same, when the request carries an Authorization header (API Gateway then
    # reads it as a bad SigV4 signature; no route of this API uses IAM auth).
    "INVALID_SIGNATURE": GatewayResponse(404, "not_found", "no such route"),
    "REQUEST_TOO_LARGE": GatewayResponse(
        413, "payload_too_large", "the request body exceeds 65536 bytes"
    ),
    "UNSUPPORTED_MEDIA_TYPE": GatewayResponse(
        415, "unsupported_media_type", "request bodies must be application/json"
    ),
    "UNAUTHORIZED": GatewayResponse(401, "unauthorized", "a valid bearer token is required"),
    "ACCESS_DENIED": GatewayResponse(403, "forbidden", "not allowed"),
    "THROTTLED": GatewayResponse(429, "too_many_requests", "too many requests; retry later"),
    "DEFAULT_4XX": GatewayResponse(None, "bad_request", ""),
    "DEFAULT_5XX": GatewayResponse(None, "internal_error", "internal server error"),
}
