"""Authentication: no route but the public ones answers without a valid access token."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from chalicelib.domain.access import PUBLIC_ROUTES
from chalicelib.entrypoints.openapi import documented_routes
from local_aws.token_signer import TokenSigner, b64url, unsigned_token
from tests.handler.helpers import register


def _routes(app_module: ModuleType) -> Iterator[tuple[str, str]]:
    # The edge's own routes (405 for other methods, OPTIONS preflight) answer before any token.
    for path, method, _ in documented_routes(app_module.app.routes):
        yield method, path


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "someone", path)


def _assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.body
    body = json.loads(response.body)
    assert set(body) == {"error", "message", "details"}
    assert (body["error"], body["details"]) == ("unauthorized", [])
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_every_route_but_the_public_ones_is_401_without_a_token(
    chalice_app: ModuleType, anonymous: Any
) -> None:
    # GIVEN every route the Chalice app declares
    routes = sorted(set(_routes(chalice_app)) - PUBLIC_ROUTES)
    assert len(routes) >= 12  # the routes of ARCHITECTURE.md section 6
    # WHEN each is called without a token (with a body where it takes one)
    for method, path in routes:
        response = anonymous.http.request(
            method,
            _concrete(path),
            headers={"Content-Type": "application/json"},
            body=b'{"amount": 1}',
        )
        # THEN 401 in the documented shape
        _assert_unauthorized(response)


def test_health_is_public(anonymous: Any) -> None:
    response = anonymous.http.get("/health")
    assert (response.status_code, response.json_body) == (200, {"status": "ok"})


def _hs256_with_public_key(signer: TokenSigner) -> str:
    """The classic confusion attack: HMAC-sign with the RSA public key as the secret."""
    public_pem = signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": signer.kid}).encode())
    payload = b64url(json.dumps(signer.claims("ada")).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def _forged(signer: TokenSigner) -> str:
    # Another key claiming the pool's kid.
    impostor = TokenSigner(signer.pool_id, signer.client_id, kid=signer.kid)
    return impostor.token("ada")


def _other_pool(signer: TokenSigner) -> str:
    # A genuine token of another pool (its own key), presented to this API.
    other = TokenSigner("eu-west-1_OtherPool", signer.client_id, kid=signer.kid)
    return other.token("ada")


BAD_HEADERS: dict[str, Callable[[TokenSigner], str | None]] = {
    "missing": lambda s: None,
    "empty": lambda s: "",
    "basic scheme": lambda s: "Basic YWRhOnNlY3JldA==",
    "bearer without token": lambda s: "Bearer ",
    "token without scheme": lambda s: s.token("ada"),
    "not a jwt": lambda s: "Bearer not-a-token",
    "garbage segments": lambda s: "Bearer a.b.c",
    "forged with another key": lambda s: f"Bearer {_forged(s)}",
    "unsigned alg none": lambda s: f"Bearer {unsigned_token(s.claims('ada'), s.kid)}",
    "hs256 with the public key": lambda s: f"Bearer {_hs256_with_public_key(s)}",
    "expired": lambda s: f"Bearer {s.token('ada', exp=int(time.time()) - 60)}",
    "no expiry": lambda s: f"Bearer {s.token('ada', exp=None)}",
    "other issuer claim": lambda s: (
        f"Bearer {s.token('ada', iss='https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x')}"
    ),
    "other pool": lambda s: f"Bearer {_other_pool(s)}",
    "other app client": lambda s: f"Bearer {s.token('ada', client_id='another-client')}",
    "id token": lambda s: f"Bearer {s.token('ada', token_use='id', aud=s.client_id)}",
    "no token_use": lambda s: f"Bearer {s.token('ada', token_use=None)}",
    "no sub": lambda s: f"Bearer {s.token('ada', sub=None)}",
    "unknown kid": lambda s: f"Bearer {s.token('ada', headers={'kid': 'rotated-away'})}",
    "tampered payload": lambda s: "Bearer " + _tampered(s),
}


def _tampered(signer: TokenSigner) -> str:
    header, _, signature = signer.token("ada").split(".")
    payload = b64url(json.dumps(signer.claims("grace")).encode())
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_anything_but_a_valid_access_token_is_401(
    anonymous: Any, client: Any, identity_pool: TokenSigner, case: str
) -> None:
    # GIVEN ada, registered, and a bad Authorization header in her name
    register(client)
    authorization = BAD_HEADERS[case](identity_pool)
    headers = {} if authorization is None else {"Authorization": authorization}
    # WHEN it is sent to read her own profile
    response = anonymous.http.get("/users/ada", headers=headers)
    # THEN 401 in the documented shape, while her own valid token reads it
    _assert_unauthorized(response)
    assert client.http.get("/users/ada").status_code == 200


def test_groups_come_from_the_token(
    as_caller: Callable[..., Any], sqlite_search_index: Any
) -> None:
    # GIVEN the same sub without and with the admin group
    plain, operator = as_caller("op"), as_caller("op", "admin")
    # THEN only the token carrying the group reaches the admin-only route
    assert plain.http.get("/search").status_code == 403
    assert operator.http.get("/search").status_code == 200
