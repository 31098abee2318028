"""local_aws.identities: people in the user pool and their access tokens (moto in-process)."""

from __future__ import annotations

from typing import Any

import boto3
import jwt
import pytest

from chalicelib.service.users import RegisterUser
from local_aws.identities import IdentityError, UserPoolIdentities, login_email
from local_aws.user_pool import provision_user_pool


@pytest.fixture
def identities(session: boto3.session.Session) -> UserPoolIdentities:
    """GIVEN the platform's user pool provisioned in moto."""
    env = provision_user_pool("evp", session)
    return UserPoolIdentities.from_environment(env, session)


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


@pytest.mark.parametrize(
    ("username", "email"),
    [
        ("alice", "alice@example.com"),
        ("Alice", "alice@example.com"),
        ("Bob.Smith@Example.com", "bob.smith@example.com"),
        ("ops+admin@example.org", "ops+admin@example.org"),
    ],
)
def test_a_username_signs_in_with_one_lower_case_email(username: str, email: str) -> None:
    # WHEN a username is mapped to the pool's username (an email) THEN it is that email
    assert login_email(username) == email


@pytest.mark.parametrize("username", ["", "alice smith", "bob@", "@example.com", "x" * 65, "é"])
def test_a_username_that_is_neither_an_email_nor_a_plain_name_is_refused(username: str) -> None:
    # WHEN mapping it THEN a clear error says what a username may be
    with pytest.raises(IdentityError, match=r"username|email"):
        login_email(username)


def test_a_token_is_an_access_token_of_the_pool_for_the_api_client(
    identities: UserPoolIdentities,
) -> None:
    # WHEN a token is minted for a new person
    token = claims(identities.token("alice"))
    # THEN it is an access token of this pool, for the API's client
    assert token["token_use"] == "access"
    assert token["client_id"] == identities.client_id
    assert token["iss"].endswith("/" + identities.pool_id)
    assert token["exp"] > token["iat"]


def test_the_same_username_keeps_its_sub_and_another_gets_its_own(
    identities: UserPoolIdentities,
) -> None:
    # WHEN minting twice for alice and once for bob
    first, again = claims(identities.token("alice")), claims(identities.token("ALICE"))
    bob = claims(identities.token("bob"))
    # THEN alice is one person, bob another
    assert first["sub"] == again["sub"]
    assert bob["sub"] != first["sub"]


def test_ensure_user_creates_once(identities: UserPoolIdentities) -> None:
    # WHEN the same person is ensured twice THEN only the first call creates them
    assert identities.ensure_user("carol@example.com") is True
    assert identities.ensure_user("carol@example.com") is False


def test_a_group_given_later_is_in_every_later_token(identities: UserPoolIdentities) -> None:
    # GIVEN a customer
    customer = claims(identities.token("dave"))
    # WHEN an operator adds them to marketing
    marketer = claims(identities.token("dave", "marketing"))
    # THEN the same person now carries the group
    assert "cognito:groups" not in customer or customer["cognito:groups"] == []
    assert marketer["sub"] == customer["sub"]
    assert marketer["cognito:groups"] == ["marketing"]


def test_an_unknown_group_is_refused(identities: UserPoolIdentities) -> None:
    # WHEN asking for a group the pool does not declare THEN it is refused by name
    with pytest.raises(IdentityError, match="superuser"):
        identities.token("eve", "superuser")


def test_without_the_pool_settings_the_error_says_how_to_get_them() -> None:
    # WHEN the COGNITO_* variables are missing THEN the error names them
    with pytest.raises(IdentityError, match="COGNITO_USER_POOL_ID"):
        UserPoolIdentities.from_environment({})


def test_emulator_gap_moto_matches_email_usernames_case_sensitively(
    identities: UserPoolIdentities, session: boto3.session.Session
) -> None:
    """Emulator gap: the pool is case-insensitive (UsernameConfiguration), moto is not.

    In AWS, ``Alice@Example.com`` and ``alice@example.com`` are one person; moto
    5.2 creates two. ``login_email`` lower-cases every email, so the tools get
    one person on both. When this test fails, moto has closed the gap.
    """
    cognito = session.client("cognito-idp")
    cognito.admin_create_user(
        UserPoolId=identities.pool_id, Username="frank@example.com", MessageAction="SUPPRESS"
    )
    # WHEN the same email is created again in another case, straight through the API
    cognito.admin_create_user(
        UserPoolId=identities.pool_id, Username="Frank@Example.com", MessageAction="SUPPRESS"
    )
    # THEN moto holds two people (AWS would refuse with UsernameExistsException)
    users = cognito.list_users(UserPoolId=identities.pool_id)["Users"]
    emails = [a["Value"] for u in users for a in u["Attributes"] if a["Name"] == "email"]
    assert sorted(emails) == ["Frank@Example.com", "frank@example.com"]
    # AND through the tools both spellings are still one person
    assert (
        claims(identities.token("FRANK@example.com"))["sub"]
        == claims(identities.token("frank@EXAMPLE.com"))["sub"]
    )


def test_a_plain_names_email_passes_the_apis_email_rule() -> None:
    # GIVEN the email `token alice` signs in with (README: token alice, then register)
    email = login_email("alice")
    # WHEN the API validates it as a registration's email THEN it is accepted as is
    request = RegisterUser.model_validate(
        {"name": "Alice", "lastname": "Liddell", "address": "Oxford", "email": email}
    )
    assert request.email == email
