"""A stand-in user pool for in-process tests and benchmarks: signs Cognito-shaped tokens.

It holds its own RSA key, publishes it as a JSON Web Key Set and issues
access tokens with the claims Cognito puts in them (``sub``, ``iss``,
``client_id``, ``token_use``, ``cognito:groups``, ``exp`` ...). Any claim or
header can be overridden, so tests can also forge expired, foreign or
unsigned tokens. Against the local stack, real tokens come from
``local_stack.py token`` instead.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import resources

__all__ = ["TokenSigner", "unsigned_token"]

DEFAULT_REGION = "eu-west-1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: Mapping[str, Any], kid: str) -> str:
    """A token with ``"alg": "none"`` and no signature."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(dict(claims)).encode()), ""]
    )


class TokenSigner:
    """One RSA signing key of a user pool ``pool_id`` and its app client ``client_id``."""

    def __init__(
        self,
        pool_id: str = f"{DEFAULT_REGION}_LocalPool",
        client_id: str = "local-app-client",
        *,
        kid: str = "local-key-1",
        region: str = DEFAULT_REGION,
    ) -> None:
        self.pool_id = pool_id
        self.client_id = client_id
        self.kid = kid
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        """The public key set, as the pool's ``/.well-known/jwks.json`` serves it."""
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def environment(self) -> dict[str, str]:
        """The API's settings for this pool (JWKS URL is nominal: tests serve the set)."""
        spec = resources.USER_POOL
        return {
            spec.pool_id_env_var: self.pool_id,
            spec.app_client_id_env_var: self.client_id,
            spec.issuer_env_var: self.issuer,
            spec.jwks_url_env_var: f"{self.issuer}/.well-known/jwks.json",
        }

    def claims(self, sub: str, groups: tuple[str, ...] = (), ttl: int = 3600) -> dict[str, Any]:
        """The claims of an access token for ``sub`` valid for ``ttl`` seconds."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "iss": self.issuer,
            "client_id": self.client_id,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": now,
            "iat": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
            "username": sub,
        }
        if groups:
            claims["cognito:groups"] = list(groups)
        return claims

    def token(
        self,
        sub: str,
        groups: tuple[str, ...] = (),
        /,
        *,
        headers: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """A signed access token; ``overrides`` replace claims (None removes one)."""
        claims = {**self.claims(sub, groups), **overrides}
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(
            claims,
            self.private_key,
            algorithm="RS256",
            headers={"kid": self.kid, **(headers or {})},
        )
