"""Access tokens of the platform's Cognito user pool: RS256 JSON Web Tokens.

A token is accepted only if all of these hold: it is a compact JWS of three
base64url parts; its header names ``RS256`` and a key of the pool's JSON Web
Key Set and demands no extension (``crit``); the signature verifies with
that key (RSASSA-PKCS1-v1_5 with SHA-256, by cryptography); ``iss`` is the
pool, ``token_use`` is ``access``, ``client_id`` is the API's app client; it
has not expired and is not dated in the future (``nbf``, ``iat``). Anything
else is ``Unauthorized``.

Why not PyJWT: importing it imports its whole algorithm table, and with it
cryptography's X.509, SSH-key and elliptic-curve modules. That was about
60 ms of CPU on the first authenticated request of every API cold start,
for one algorithm this API accepts (README "Cold start, measured"). The
signature check stays cryptography's; what is written here is the JWS
framing and the claims, which the 401 table of the authentication tests
drives with forged, unsigned, HS256-confused, tampered and foreign tokens.
The stand-in pool (local_aws.token_signer) signs with PyJWT, so every
accepted token in the tests is also one PyJWT made.

The key set is fetched once per process and cached. A token signed with a
key the cache does not know triggers a refresh (Cognito rotates keys), at
most once per ``refresh_interval`` so that made-up ``kid`` values cannot
make every request call the JWKS endpoint.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers
from cryptography.hazmat.primitives.hashes import SHA256

from chalicelib.domain.access import Caller
from chalicelib.domain.exceptions import IdentityUnavailable, Unauthorized

__all__ = ["ALGORITHM", "JwksCache", "TokenVerifier", "bearer_token"]

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ("exp", "iss", "sub", "token_use", "client_id")
MAX_TOKEN_LENGTH = 8 * 1024
# Cognito signs with 2048-bit keys; a shorter key in a key set is not one of its keys.
MIN_KEY_BITS = 2048
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")
_MALFORMED = "the access token is malformed"


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; Unauthorized otherwise."""
    if not authorization:
        raise Unauthorized("an Authorization: Bearer <access token> header is required")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be: Bearer <access token>")
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized(_MALFORMED)
    return token


def _b64decode(part: bytes) -> bytes:
    """base64url without padding (RFC 7515 section 2), strictly; ValueError otherwise."""
    if not _BASE64URL.fullmatch(part) or len(part) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def _json_object(part: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(_b64decode(part))
    except ValueError:  # orjson.JSONDecodeError is one
        raise Unauthorized(_MALFORMED) from None
    if not isinstance(document, dict):
        raise Unauthorized(_MALFORMED)
    return document


def _rsa_key(jwk: Mapping[str, Any]) -> RSAPublicKey | None:
    """The RSA public key of a JWK if it is a usable RS256 signature key; None otherwise."""
    if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
        return None
    if jwk.get("alg", ALGORITHM) != ALGORITHM:
        return None
    n, e = jwk.get("n"), jwk.get("e")
    if not isinstance(n, str) or not isinstance(e, str):
        return None
    try:
        numbers = RSAPublicNumbers(
            e=int.from_bytes(_b64decode(e.encode()), "big"),
            n=int.from_bytes(_b64decode(n.encode()), "big"),
        )
        key = numbers.public_key()
    except ValueError:
        return None
    return key if key.key_size >= MIN_KEY_BITS else None


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
        self._keys: dict[str, RSAPublicKey] = {}
        self._next_fetch = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, kid: str) -> RSAPublicKey | None:
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


def _signing_keys(document: Mapping[str, Any]) -> dict[str, RSAPublicKey]:
    """The RS256 signature keys of a key set by kid; entries that are not such keys are skipped."""
    keys: dict[str, RSAPublicKey] = {}
    entries = document.get("keys")
    for jwk in entries if isinstance(entries, list) else []:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        key = _rsa_key(jwk)
        if key is not None:
            keys[jwk["kid"]] = key
    return keys


def _number(claims: Mapping[str, Any], name: str) -> int | float | None:
    """A NumericDate claim (RFC 7519 section 2), None if absent; Unauthorized if not a number."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthorized(_MALFORMED)
    return value  # compared as is: an int beyond a float's range compares exactly


class TokenVerifier:
    """Verifies access tokens of one user pool and app client.

    ``clock`` is the wall clock in seconds since the epoch (tokens' ``exp``).
    """

    def __init__(
        self,
        keys: JwksCache,
        *,
        issuer: str,
        client_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._client_id = client_id
        self._clock = clock

    def caller(self, authorization: str | None) -> Caller:
        """The caller an ``Authorization`` header proves; Unauthorized if it proves nothing."""
        token = bearer_token(authorization).encode()
        parts = token.split(b".")
        if len(parts) != 3:
            raise Unauthorized(_MALFORMED)
        header_part, payload_part, signature_part = parts
        header = _json_object(header_part)
        # Only RS256: an "alg": "none" token, or an HS256 one keyed with the public
        # key, never reaches a signature check.
        if header.get("alg") != ALGORITHM:
            raise Unauthorized(f"the access token must be signed with {ALGORITHM}")
        if "crit" in header:  # extensions a verifier must understand (RFC 7515 4.1.11)
            raise Unauthorized(_MALFORMED)
        kid = header.get("kid")
        key = self._keys.key(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthorized("the access token was not signed by this user pool")
        try:
            key.verify(
                _b64decode(signature_part), header_part + b"." + payload_part, PKCS1v15(), SHA256()
            )
        except (ValueError, InvalidSignature):
            raise Unauthorized("the access token's signature does not verify") from None
        claims = _json_object(payload_part)
        self._check_claims(claims)
        sub = claims["sub"]
        groups = claims.get("cognito:groups") or []
        if not isinstance(sub, str) or not sub or not isinstance(groups, list):
            raise Unauthorized(_MALFORMED)
        return Caller(sub=sub, groups=frozenset(str(g) for g in groups))

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        if any(name not in claims for name in REQUIRED_CLAIMS):
            raise Unauthorized(_MALFORMED)
        now = self._clock()
        expires = _number(claims, "exp")
        if expires is not None and expires <= now:
            raise Unauthorized("the access token has expired")
        for name in ("nbf", "iat"):
            dated = _number(claims, name)
            if dated is not None and dated > now:
                raise Unauthorized("the access token is not valid yet")
        if claims["iss"] != self._issuer:
            raise Unauthorized("the access token is from another issuer")
        # Access tokens carry client_id, not aud.
        if claims["token_use"] != "access":
            raise Unauthorized("an access token is required (this is not one)")
        if claims["client_id"] != self._client_id:
            raise Unauthorized("the access token was issued to another app client")
