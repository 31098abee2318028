"""Who is calling: the API's token verifier, built once per process from the settings.

``authenticate`` is what the HTTP middleware calls for every non-public
route. The pool's key set comes from ``aws.jwks`` (tests serve their own).
``verified_email`` asks the pool for the caller's email (registration only).
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import aws
from chalicelib.adapters.tokens import JwksCache, TokenVerifier, bearer_token
from chalicelib.domain.access import Caller
from chalicelib.domain.exceptions import IdentityUnavailable, Unauthorized
from chalicelib.settings import Settings, get_settings

__all__ = ["authenticate", "verified_email", "verifier"]

# GetUser's answers for a token whose user was deleted, disabled or signed out.
_IDENTITY_GONE = frozenset({"NotAuthorizedException", "UserNotFoundException"})

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


def verified_email(authorization: str | None) -> str | None:
    """The email of the caller's Cognito user if it is verified; None if it is not.

    Unauthorized when the pool no longer knows the token's user (deleted,
    e.g. after an erasure, or its tokens revoked); IdentityUnavailable when
    the pool cannot be asked.
    """
    token = bearer_token(authorization)
    try:
        attributes = aws.identity_attributes(token)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _IDENTITY_GONE:
            raise Unauthorized(
                "this identity no longer exists or its tokens were revoked"
            ) from None
        raise IdentityUnavailable("the user pool cannot be asked for your email; retry") from exc
    except BotoCoreError as exc:
        raise IdentityUnavailable("the user pool cannot be asked for your email; retry") from exc
    email = attributes.get("email", "").strip()
    if not email or attributes.get("email_verified", "").lower() != "true":
        return None
    return email
