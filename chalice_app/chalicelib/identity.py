"""Who is calling: the API's token verifier, built once per process from the settings.

``authenticate`` is what the HTTP middleware calls for every non-public
route. The pool's key set comes from ``aws.jwks`` (tests serve their own).
"""

from __future__ import annotations

from chalicelib import aws
from chalicelib.access import Caller
from chalicelib.exceptions import Unauthorized
from chalicelib.settings import Settings, get_settings
from chalicelib.tokens import JwksCache, TokenVerifier

__all__ = ["authenticate", "verifier"]

_verifiers: dict[str, tuple[Settings, TokenVerifier | None]] = {}


def verifier() -> TokenVerifier | None:
    """The verifier of the configured pool (None in a local stage without one)."""
    settings = get_settings()
    cached = _verifiers.get("verifier")
    if cached is None or cached[0] is not settings:
        cognito = settings.cognito
        built = None
        if cognito is not None:
            url = cognito.jwks_url
            keys = JwksCache(lambda: aws.jwks(url))
            built = TokenVerifier(keys, issuer=cognito.issuer, client_id=cognito.app_client_id)
        cached = (settings, built)
        _verifiers["verifier"] = cached
    return cached[1]


def authenticate(authorization: str | None) -> Caller:
    """The caller an ``Authorization`` header proves (the pool's access token)."""
    current = verifier()
    if current is None:
        # Only the local stage may run without a user pool; nobody gets in then.
        raise Unauthorized("this stage has no user pool configured (COGNITO_USER_POOL_ID)")
    return current.caller(authorization)
