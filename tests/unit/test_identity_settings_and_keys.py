"""The pool's key set cache and the identity settings, without AWS."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from chalicelib import resources
from chalicelib.adapters.tokens import JwksCache, TokenVerifier
from chalicelib.domain.access import ADMIN, MARKETING, rule_of
from chalicelib.domain.exceptions import IdentityUnavailable, MissingSetting, Unauthorized
from chalicelib.entrypoints.roots import accounts, consumer_views, search_queries, users
from chalicelib.settings import load_settings
from local_aws.token_signer import TokenSigner


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Jwks:
    """A JWKS endpoint counting its calls; ``keys`` may change (rotation)."""

    def __init__(self, *signers: TokenSigner) -> None:
        self.signers = list(signers)
        self.calls = 0
        self.fail = False

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise OSError("connection refused")
        return {"keys": [k for s in self.signers for k in s.jwks()["keys"]]}


@pytest.fixture(scope="module")
def signer() -> TokenSigner:
    return TokenSigner()


def _verifier(keys: JwksCache, signer: TokenSigner) -> TokenVerifier:
    return TokenVerifier(keys, issuer=signer.issuer, client_id=signer.client_id)


def test_keys_are_fetched_once_and_cached(signer: TokenSigner) -> None:
    endpoint = _Jwks(signer)
    verifier = _verifier(JwksCache(endpoint), signer)
    for _ in range(5):
        assert verifier.caller(f"Bearer {signer.token('ada', ('admin',))}").sub == "ada"
    assert endpoint.calls == 1


def test_a_rotated_key_is_picked_up_on_its_first_token(signer: TokenSigner) -> None:
    # GIVEN a cache holding the pool's first key
    clock = _Clock()
    endpoint = _Jwks(signer)
    verifier = _verifier(JwksCache(endpoint, refresh_interval=60, clock=clock), signer)
    verifier.caller(f"Bearer {signer.token('ada')}")
    # WHEN the pool rotates to a new key and a token signed with it arrives later
    rotated = TokenSigner(signer.pool_id, signer.client_id, kid="key-2")
    endpoint.signers.append(rotated)
    clock.now += 61
    # THEN the set is refreshed once and the token verifies
    assert verifier.caller(f"Bearer {rotated.token('bob')}").sub == "bob"
    assert endpoint.calls == 2


def test_unknown_kids_cannot_hammer_the_jwks_endpoint(signer: TokenSigner) -> None:
    # GIVEN a warm cache
    clock = _Clock()
    endpoint = _Jwks(signer)
    verifier = _verifier(JwksCache(endpoint, refresh_interval=60, clock=clock), signer)
    verifier.caller(f"Bearer {signer.token('ada')}")
    # WHEN a token with a made-up kid arrives every second for 130 seconds
    for n in range(130):
        clock.now += 1
        with pytest.raises(Unauthorized):
            verifier.caller(f"Bearer {signer.token('ada', headers={'kid': f'made-up-{n}'})}")
    # THEN the endpoint was asked once more per 60-second interval, not per token
    assert endpoint.calls == 1 + 2


def test_an_unreachable_jwks_endpoint_is_unavailable_not_unauthorized(
    signer: TokenSigner,
) -> None:
    clock = _Clock()
    endpoint = _Jwks(signer)
    endpoint.fail = True
    verifier = _verifier(JwksCache(endpoint, retry_interval=1, clock=clock), signer)
    token = f"Bearer {signer.token('ada')}"
    with pytest.raises(IdentityUnavailable):
        verifier.caller(token)
    # (no new attempt until the retry interval has passed)
    with pytest.raises(Unauthorized):
        verifier.caller(token)
    assert endpoint.calls == 1
    endpoint.fail = False
    clock.now += 1
    assert verifier.caller(token).sub == "ada"


BASE = {"AWS_DEFAULT_REGION": "eu-west-1"}
POOL = {"COGNITO_USER_POOL_ID": "eu-west-1_Abc", "COGNITO_APP_CLIENT_ID": "client-1"}


def test_issuer_and_jwks_url_follow_from_the_pool() -> None:
    cognito = load_settings({**BASE, **POOL, "STAGE": "dev"}).cognito
    assert cognito is not None
    assert cognito.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc"
    assert cognito.jwks_url == f"{cognito.issuer}/.well-known/jwks.json"


def test_explicit_urls_win(signer: TokenSigner) -> None:
    env = {**BASE, **signer.environment(), "COGNITO_JWKS_URL": "http://127.0.0.1:5000/p/jwks"}
    cognito = load_settings(env).cognito
    assert cognito is not None and cognito.jwks_url == "http://127.0.0.1:5000/p/jwks"


@pytest.mark.parametrize(
    "env",
    [
        {"STAGE": "dev"},
        {"STAGE": "prod", "COGNITO_USER_POOL_ID": "eu-west-1_Abc"},
        {"AWS_LAMBDA_FUNCTION_NAME": "event-platform-dev-api_handler"},
    ],
)
def test_a_missing_pool_fails_loudly_outside_the_local_stage(env: dict[str, str]) -> None:
    with pytest.raises(MissingSetting, match="COGNITO_"):
        load_settings({**BASE, **env})


def test_the_local_stage_may_run_without_a_pool() -> None:
    assert load_settings(BASE).cognito is None
    assert load_settings({**BASE, "STAGE": "local"}).cognito is None


def test_keys_that_are_not_rsa_signature_keys_are_ignored(signer: TokenSigner) -> None:
    # GIVEN a key set with junk, an encryption key and a symmetric key next to the real one
    (real,) = signer.jwks()["keys"]
    junk = [
        "not a key",
        {"kid": "enc", **{k: v for k, v in real.items() if k != "kid"}, "use": "enc"},
        {"kid": "sym", "kty": "oct", "k": "c2VjcmV0"},
        {"kid": "broken", "kty": "RSA", "n": "??", "e": "AQAB"},
    ]
    keys = JwksCache(lambda: {"keys": [*junk, real]})
    verifier = _verifier(keys, signer)
    # THEN the real key verifies and the others are unknown
    assert verifier.caller(f"Bearer {signer.token('ada')}").sub == "ada"
    for kid in ("enc", "sym", "broken"):
        with pytest.raises(Unauthorized):
            verifier.caller(f"Bearer {signer.token('ada', headers={'kid': kid})}")


def test_the_groups_rules_name_are_the_pools_groups() -> None:
    assert {ADMIN, MARKETING} == set(resources.USER_POOL.groups)


def test_every_service_function_taking_a_caller_has_one_access_rule() -> None:
    # open_account parses the body first, then its rule checks the requested owner.
    delegates = {"open_account": "_open_account"}
    takes_caller = [
        (group, name)
        for group in (users, accounts, consumer_views, search_queries)
        for name in group.__all__
        if next(iter(inspect.signature(getattr(group, name)).parameters), None) == "caller"
    ]
    assert len(takes_caller) >= 16
    for group, name in takes_caller:
        ruled = getattr(group, delegates.get(name, name))
        assert rule_of(ruled) is not None, f"{group.__name__}.{name} has no @authorize rule"
