"""Access tokens of the platform's Cognito user pool, verified with PyJWT.

A token is accepted only if all of these hold: its header names ``RS256``
and a key of the pool's JSON Web Key Set, the signature verifies with that
key, ``iss`` is the pool, ``token_use`` is ``access``, ``client_id`` is the
API's app client, and it has not expired. Anything else is ``Unauthorized``.

The key set is fetched once per process and cached. A token signed with a
key the cache does not know triggers a refresh (Cognito rotates keys), at
most once per ``refresh_interval`` so that made-up ``kid`` values cannot
make every request call the JWKS endpoint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from chalicelib.domain.access import Caller
from chalicelib.domain.exceptions import IdentityUnavailable, Unauthorized

__all__ = ["ALGORITHM", "JwksCache", "TokenVerifier", "bearer_token"]

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ("exp", "iss", "sub", "token_use", "client_id")
MAX_TOKEN_LENGTH = 8 * 1024


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; Unauthorized otherwise."""
    if not authorization:
        raise Unauthorized("an Authorization: Bearer <access token> header is required")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be: Bearer <access token>")
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized("the access token is malformed")
    return token


class JwksCache:
    """The pool's signing keys by ``kid``, fetched lazily and refreshed on an unknown kid.

    ``fetch`` returns the key set document; ``clock`` is monotonic seconds.
    A failed fetch raises IdentityUnavailable and is retried no sooner than
    ``retry_interval`` later.
    """

    def __init__(
        self,
        fetch: Callable[[], Mapping[str, Any]],
        *,
        refresh_interval: float = 60.0,
        retry_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_interval = refresh_interval
        self._retry_interval = retry_interval
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._next_fetch = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, kid: str) -> jwt.PyJWK | None:
        """The signing key ``kid``, refreshing the set if allowed; None if unknown."""
        found = self._keys.get(kid)
        if found is not None:
            return found
        with self._lock:
            found = self._keys.get(kid)
            if found is None and self._clock() >= self._next_fetch:
                self._refresh()
                found = self._keys.get(kid)
        return found

    def _refresh(self) -> None:
        self.fetches += 1
        try:
            document = self._fetch()
        except Exception as exc:
            self._next_fetch = self._clock() + self._retry_interval
            raise IdentityUnavailable(
                "the user pool's signing keys cannot be fetched; retry shortly"
            ) from exc
        self._keys = _signing_keys(document)
        self._next_fetch = self._clock() + self._refresh_interval


def _signing_keys(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The RSA signature keys of a key set by kid; entries that are not such keys are skipped."""
    keys: dict[str, jwt.PyJWK] = {}
    entries = document.get("keys")
    for jwk in entries if isinstance(entries, list) else []:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[jwk["kid"]] = jwt.PyJWK(dict(jwk), algorithm=ALGORITHM)
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
    return keys


class TokenVerifier:
    """Verifies access tokens of one user pool and app client."""

    def __init__(
        self,
        keys: JwksCache,
        *,
        issuer: str,
        client_id: str,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._client_id = client_id

    def caller(self, authorization: str | None) -> Caller:
        """The caller an ``Authorization`` header proves; Unauthorized if it proves nothing."""
        token = bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the access token is malformed") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized(f"the access token must be signed with {ALGORITHM}")
        kid = header.get("kid")
        key = self._keys.key(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthorized("the access token was not signed by this user pool")
        claims = self._decode(token, key)
        if claims["token_use"] != "access":
            raise Unauthorized("an access token is required (this is not one)")
        if claims["client_id"] != self._client_id:
            raise Unauthorized("the access token was issued to another app client")
        sub = claims["sub"]
        groups = claims.get("cognito:groups") or []
        if not isinstance(sub, str) or not sub or not isinstance(groups, list):
            raise Unauthorized("the access token is malformed")
        return Caller(sub=sub, groups=frozenset(str(g) for g in groups))

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            # Only RS256 is allowed: an "alg": "none" or an HS256 token keyed with
            # the public key never verifies. Access tokens carry client_id, not aud.
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": list(REQUIRED_CLAIMS), "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("the access token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("the access token's signature does not verify") from None
        except jwt.PyJWTError:
            raise Unauthorized("the access token is malformed") from None
        return claims
