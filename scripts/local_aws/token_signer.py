"""A stand-in user pool for in-process tests and benchmarks: signs Cognito-shaped tokens.

It holds its own RSA key, publishes it as a JSON Web Key Set and issues
access tokens with the claims Cognito puts in them (``sub``, ``iss``,
``client_id``, ``token_use``, ``cognito:groups``, ``exp`` ...). Any claim or
header can be overridden, so tests can also forge expired, foreign or
unsigned tokens. It also answers for its people as Cognito's ``GetUser``
does (``identity_attributes``): each ``sub`` has the verified email
``<sub>@example.com`` unless a test sets another, unverified or deleted one.
Against the local stack, real tokens come from ``local_stack.py token``
instead.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import resources

__all__ = ["TokenSigner", "b64url", "unsigned_token"]

DEFAULT_REGION = "eu-west-1"
# The domain of the email a stand-in person has unless a test sets another.
DEFAULT_EMAIL_DOMAIN = "example.com"


def b64url(data: bytes) -> str:
    """``data`` in base64url without padding, as a JWS part (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: Mapping[str, Any], kid: str) -> str:
    """A token with ``"alg": "none"`` and no signature."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return ".".join(
        [b64url(json.dumps(header).encode()), b64url(json.dumps(dict(claims)).encode()), ""]
    )


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetUser")


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
        # sub -> (email, verified); None once the person was deleted.
        self._people: dict[str, tuple[str, bool] | None] = {}

    def email_of(self, sub: str) -> str:
        """The email of the person ``sub`` (``<sub>@example.com`` unless set)."""
        person = self._people.get(sub, (f"{sub}@{DEFAULT_EMAIL_DOMAIN}", True))
        if person is None:
            raise KeyError(f"{sub} was deleted")
        return person[0]

    def forget_people(self) -> None:
        """Every person back to ``<sub>@example.com``, verified (a test's fresh start)."""
        self._people.clear()

    def set_email(self, sub: str, email: str, *, verified: bool = True) -> None:
        """Give the person ``sub`` another email, verified or not."""
        self._people[sub] = (email, verified)

    def delete(self, sub: str) -> None:
        """Delete the person ``sub``: their tokens still verify, GetUser fails (as in Cognito)."""
        self._people[sub] = None

    def identity_attributes(self, access_token: str) -> dict[str, str]:
        """What Cognito's ``GetUser`` answers for one of this pool's access tokens."""
        try:
            claims = jwt.decode(
                access_token,
                self.private_key.public_key(),
                algorithms=["RS256"],
                options={"verify_exp": False},
            )
        except jwt.PyJWTError:
            raise _client_error("NotAuthorizedException", "Invalid Access Token") from None
        sub = str(claims["sub"])
        person = self._people.get(sub, (f"{sub}@{DEFAULT_EMAIL_DOMAIN}", True))
        if person is None:
            raise _client_error("UserNotFoundException", "User does not exist.")
        email, verified = person
        return {"sub": sub, "email": email, "email_verified": "true" if verified else "false"}

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
