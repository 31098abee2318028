"""Who is calling: the API's bearer-token verification (cryptography's RSA).

Reached by the HTTP middleware (chalicelib.entrypoints.http.authenticate) on
the first request to a route that is not public: ``GET /health`` and
``GET /openapi.json`` never import it.
"""

from __future__ import annotations

from chalicelib.adapters import identity
from chalicelib.domain.access import Caller

__all__ = ["verify_caller"]


def verify_caller(authorization: str | None) -> Caller:
    """The caller an ``Authorization`` header proves (chalicelib.adapters.identity)."""
    return identity.authenticate(authorization)
