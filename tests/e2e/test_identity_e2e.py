"""``local_stack.py token``: real access tokens from the local stack's user pool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest

from local_aws import stack_state
from local_aws.stack_process import LocalStackProcess
from tests.e2e.conftest import AuthHeaders, Token

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def published(local_stack: LocalStackProcess) -> dict[str, str]:
    """The environment the running stack published for the local tools."""
    return stack_state.load(local_stack.aws_port, local_stack.log_path.parent)


@pytest.fixture(scope="module")
def verify(published: dict[str, str]) -> Any:
    """Verify a token as the API must: the pool's JWKS, issuer, expiry, token_use, client."""
    keys = jwt.PyJWKClient(published["COGNITO_JWKS_URL"], cache_keys=True)

    def claims(token: str) -> dict[str, Any]:
        decoded: dict[str, Any] = jwt.decode(
            token,
            keys.get_signing_key_from_jwt(token).key,
            algorithms=["RS256"],
            issuer=published["COGNITO_ISSUER"],
            options={"require": ["exp", "iss", "sub", "token_use", "client_id"]},
        )
        assert decoded["token_use"] == "access"
        assert decoded["client_id"] == published["COGNITO_APP_CLIENT_ID"]
        return decoded

    return claims


def test_token_prints_an_access_token_of_the_pool_as_its_last_line(
    local_stack: LocalStackProcess, published: dict[str, str], verify: Any
) -> None:
    # WHEN the token command runs for a plain username with a group
    done = local_stack.run_script(
        "local_stack.py",
        "token",
        "--aws-port",
        str(local_stack.aws_port),
        "--state-dir",
        str(local_stack.log_path.parent),
        "token-alice",
        "--group",
        "marketing",
    )
    last = done.stdout.strip().splitlines()[-1]
    # THEN the last line is an RS256 access token signed by the pool's key, for the API's client
    assert jwt.get_unverified_header(last)["alg"] == "RS256"
    claims = verify(last)
    assert claims["iss"].endswith("/" + published["COGNITO_USER_POOL_ID"])
    assert claims["cognito:groups"] == ["marketing"]
    # AND the issuer is AWS's form while the key set is served by the local endpoint
    assert published["COGNITO_ISSUER"].startswith("https://cognito-idp.")
    assert published["COGNITO_JWKS_URL"].startswith(local_stack.aws_url + "/")


def test_the_same_username_is_the_same_person(token: Token, verify: Any) -> None:
    # WHEN tokens are minted twice for one username and once for another
    first = verify(token("token-bob"))
    again = verify(token("token-bob"))
    other = verify(token("token-carol"))
    # THEN the same username keeps its sub and another username has its own
    assert first["sub"] == again["sub"]
    assert other["sub"] != first["sub"]
    # AND without a group a person is a customer
    assert not first.get("cognito:groups")


def test_an_email_username_is_case_insensitive(token: Token, verify: Any) -> None:
    # WHEN the same email is given in two spellings
    lower = verify(token("dora.token@example.com"))
    upper = verify(token("Dora.Token@Example.COM"))
    # THEN both are one person
    assert lower["sub"] == upper["sub"]


def test_a_group_is_added_to_an_existing_person_and_kept(token: Token, verify: Any) -> None:
    # GIVEN a person who already has a token as a customer
    before = verify(token("token-erin"))
    # WHEN an operator mints one with --group admin, then one without a group
    admin = verify(token("token-erin", "admin"))
    later = verify(token("token-erin"))
    # THEN the person is the same and is in admin from then on
    assert admin["sub"] == before["sub"] == later["sub"]
    assert admin["cognito:groups"] == ["admin"]
    assert later["cognito:groups"] == ["admin"]


def test_auth_headers_carry_the_persons_bearer_token(
    auth_headers: AuthHeaders, token: Token, verify: Any
) -> None:
    # WHEN asking for a person's headers
    headers = auth_headers("token-frida", "marketing")
    scheme, _, credentials = headers["Authorization"].partition(" ")
    # THEN they hold a bearer access token of that person, with the group
    assert scheme == "Bearer"
    claims = verify(credentials)
    assert claims["sub"] == verify(token("token-frida"))["sub"]
    assert claims["cognito:groups"] == ["marketing"]


def test_token_for_a_port_without_a_stack_is_a_clear_error(
    local_stack: LocalStackProcess,
) -> None:
    # WHEN the token command is pointed at a port no stack publishes
    done = local_stack.run_script(
        "local_stack.py",
        "token",
        "--aws-port",
        "1",
        "--state-dir",
        str(local_stack.log_path.parent),
        "nobody",
        check=False,
    )
    # THEN it exits 2 naming the port of the stack that does run there, and prints no token
    assert done.returncode == 2
    assert f"--aws-port {local_stack.aws_port}" in done.stderr
    assert done.stdout == ""


def test_every_seeded_person_registers_as_their_own_identity(
    local_stack: LocalStackProcess, published: dict[str, str], tmp_path: Path
) -> None:
    # WHEN seed_users registers three people against the stack's user pool
    output = tmp_path / "seeded.json"
    done = local_stack.run_script(
        "seed_users.py",
        "--api-url",
        local_stack.api_url,
        "--aws-port",
        str(local_stack.aws_port),
        "--state-dir",
        str(local_stack.log_path.parent),
        "--count",
        "3",
        "--seed",
        "1010",
        "--no-progress",
        "--output",
        str(output),
    )
    seeded = json.loads(output.read_text())
    cognito = local_stack.client("cognito-idp")
    pool_id = published["COGNITO_USER_POOL_ID"]
    # THEN all three were created, each is a person in the pool, and their user id is their sub
    assert json.loads(done.stdout.strip().splitlines()[-1])["created"] == 3
    for user in seeded:
        person = cognito.admin_get_user(UserPoolId=pool_id, Username=user["email"])
        attributes = {a["Name"]: a["Value"] for a in person["UserAttributes"]}
        assert attributes["email"] == user["email"]
        assert user["id"] == attributes["sub"]
