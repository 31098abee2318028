"""The access-token rules beyond the API's 401 table, on a fake clock and without AWS.

Tokens come from the stand-in pool (signed by PyJWT) or, where a test needs
bytes PyJWT would not write, are signed here with the pool's key.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from chalicelib.adapters.tokens import JwksCache, TokenVerifier
from chalicelib.domain.exceptions import Unauthorized
from local_aws.token_signer import TokenSigner, b64url

NOW = 2_000_000_000


@pytest.fixture(scope="module")
def signer() -> TokenSigner:
    return TokenSigner()


def _verifier(signer: TokenSigner, jwks: dict[str, Any] | None = None) -> TokenVerifier:
    key_set = jwks or signer.jwks()
    keys = JwksCache(lambda: key_set)
    return TokenVerifier(keys, issuer=signer.issuer, client_id=signer.client_id, clock=lambda: NOW)


def _claims(signer: TokenSigner, **overrides: Any) -> dict[str, Any]:
    return {**signer.claims("ada"), "iat": NOW - 60, "auth_time": NOW - 60, **overrides}


def _signed(
    signer: TokenSigner, claims: dict[str, Any], header: dict[str, Any] | None = None
) -> str:
    """These exact claims (nulls kept) under this header, signed with the pool's key."""
    head = b64url(orjson.dumps(header or {"alg": "RS256", "typ": "JWT", "kid": signer.kid}))
    body = b64url(orjson.dumps(claims))
    signature = signer.private_key.sign(f"{head}.{body}".encode(), PKCS1v15(), SHA256())
    return f"{head}.{body}.{b64url(signature)}"


def _refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as refused:
        verifier.caller(f"Bearer {token}")
    return str(refused.value)


def test_a_token_is_valid_until_the_second_it_expires(signer: TokenSigner) -> None:
    # GIVEN a token that expires one second from now, and one that expires now
    verifier = _verifier(signer)
    live = signer.token("ada", exp=NOW + 1, iat=NOW - 60, auth_time=NOW - 60)
    ending = signer.token("ada", exp=NOW, iat=NOW - 60, auth_time=NOW - 60)
    # THEN the first is accepted and the second has expired
    assert verifier.caller(f"Bearer {live}").sub == "ada"
    assert "expired" in _refusal(verifier, ending)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_dated_in_the_future_is_refused(signer: TokenSigner, claim: str) -> None:
    token = _signed(signer, _claims(signer, exp=NOW + 3600, **{claim: NOW + 30}))
    assert "not valid yet" in _refusal(_verifier(signer), token)


@pytest.mark.parametrize("exp", ["2000003600", True, None, [NOW + 60]], ids=repr)
def test_an_expiry_that_is_not_a_number_is_malformed(signer: TokenSigner, exp: Any) -> None:
    token = _signed(signer, _claims(signer, exp=exp))
    assert "malformed" in _refusal(_verifier(signer), token)


def test_an_expiry_beyond_a_floats_range_is_compared_not_converted(
    signer: TokenSigner,
) -> None:
    token = _signed(signer, _claims(signer, exp=2**63 - 1))
    assert _verifier(signer).caller(f"Bearer {token}").sub == "ada"


def test_a_header_demanding_an_extension_is_refused(signer: TokenSigner) -> None:
    header = {"alg": "RS256", "kid": signer.kid, "crit": ["exp"], "exp": NOW + 60}
    token = _signed(signer, _claims(signer, exp=NOW + 60), header)
    assert "malformed" in _refusal(_verifier(signer), token)


@pytest.mark.parametrize("part", [0, 1, 2])
@pytest.mark.parametrize("spoil", ["padding", "standard alphabet", "space"])
def test_a_part_that_is_not_base64url_is_refused(
    signer: TokenSigner, part: int, spoil: str
) -> None:
    # GIVEN a valid token whose part is re-encoded as base64url must not be
    parts = _signed(signer, _claims(signer, exp=NOW + 60)).split(".")
    raw = base64.urlsafe_b64decode(parts[part] + "=" * (-len(parts[part]) % 4))
    parts[part] = {
        "padding": b64url(raw) + "=" * (-len(b64url(raw)) % 4 or 4),
        "standard alphabet": base64.b64encode(raw).decode().rstrip("=") + "+/",
        "space": b64url(raw)[:4] + " " + b64url(raw)[4:],
    }[spoil]
    # THEN it is refused, however lenient a base64 decoder would be
    _refusal(_verifier(signer), ".".join(parts))


def test_the_key_set_keeps_only_rs256_signature_keys_of_2048_bits(signer: TokenSigner) -> None:
    # GIVEN a key set whose entries are not usable RS256 signature keys
    pool = signer.jwks()["keys"][0]
    short = TokenSigner(signer.pool_id, signer.client_id, kid="short")
    short.private_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ec_point = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    entries = [
        short.jwks()["keys"][0],
        {**pool, "kid": "for-encryption", "use": "enc"},
        {**pool, "kid": "other-alg", "alg": "RS512"},
        {**pool, "kid": "bad-modulus", "n": "not+base64url"},
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": b64url(ec_point.x.to_bytes(32, "big"))},
        "not an object",
    ]
    verifier = _verifier(signer, {"keys": entries})
    claims = _claims(signer, exp=NOW + 60)
    # WHEN tokens name those kids, each signed with the RSA key the entry holds
    tokens = [_signed(short, claims, {"alg": "RS256", "kid": "short"})] + [
        _signed(signer, claims, {"alg": "RS256", "kid": kid})
        for kid in ("for-encryption", "other-alg", "bad-modulus", "ec")
    ]
    # THEN none verifies, while the pool's own key still does
    for token in tokens:
        assert "not signed by this user pool" in _refusal(verifier, token)
    assert _verifier(signer).caller(f"Bearer {_signed(signer, claims)}").sub == "ada"
