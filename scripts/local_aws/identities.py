"""People's identities in the platform's Cognito user pool, and their access tokens.

Operators' tools (``local_stack.py token``, ``seed_users.py``) act with IAM
credentials: they create a person if missing (email verified, no invitation),
add groups, and sign the person in with ``ADMIN_USER_PASSWORD_AUTH`` after
setting a fresh random permanent password, so no password is ever stored or
printed. The pool's username is the email (infra/modules/identity), so a
person is found again by their email and keeps their ``sub``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib import resources
from local_aws import stack_state

__all__ = [
    "PLAIN_NAME_DOMAIN",
    "IdentityError",
    "UserPoolIdentities",
    "login_email",
]

# A plain USERNAME (``alice``) signs in as ``alice@<this>``: the pool's username is
# an email, and registration takes the identity's email, so it must pass the API's
# email validator, which refuses special-use names such as ``.invalid`` or ``.test``.
# example.com is reserved for documentation (RFC 2606) with a null MX (RFC 7505):
# never somebody's mailbox, yet a valid address.
PLAIN_NAME_DOMAIN = "example.com"

_PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9._+-]{0,63}")
_EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}")
_PASSWORD_RESETS = 3


class IdentityError(Exception):
    """An identity could not be created or signed in; the message is one line for the user."""


def login_email(username: str) -> str:
    """The email a USERNAME signs in with: itself if an email, else ``name@example.com``.

    Lower-cased, because the pool matches emails case-insensitively.
    """
    name = username.strip().lower()
    if "@" in name:
        if not _EMAIL.fullmatch(name):
            raise IdentityError(f"not an email address: {username!r}")
        return name
    if not _PLAIN_NAME.fullmatch(name):
        raise IdentityError(
            f"a username is an email or letters, digits and . _ + - (at most 64): {username!r}"
        )
    return f"{name}@{PLAIN_NAME_DOMAIN}"


def _pool_and_client(environ: Mapping[str, str]) -> tuple[str, str]:
    spec = resources.USER_POOL
    pool_id = environ.get(spec.pool_id_env_var, "")
    client_id = environ.get(spec.app_client_id_env_var, "")
    if not pool_id or not client_id:
        raise IdentityError(
            f"{spec.pool_id_env_var} and {spec.app_client_id_env_var} are not set; "
            "pass --aws-port P of a running local stack, or apply infra/ and run "
            "scripts/tf_outputs_to_chalice.py"
        )
    return pool_id, client_id


def _region(pool_id: str) -> str:
    # A pool id is "<region>_<id>": the pool's region, whatever the default region is.
    return pool_id.split("_", 1)[0]


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class UserPoolIdentities:
    """Create people in one user pool and mint their access tokens (IAM-authorised calls)."""

    def __init__(self, cognito: Any, pool_id: str, client_id: str) -> None:
        self._cognito = cognito
        self.pool_id = pool_id
        self.client_id = client_id

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], session: boto3.session.Session | None = None
    ) -> UserPoolIdentities:
        """The pool named by the COGNITO_* variables (a Chalice stage's, in AWS)."""
        pool_id, client_id = _pool_and_client(environ)
        session = session or boto3.session.Session()
        return cls(session.client("cognito-idp", region_name=_region(pool_id)), pool_id, client_id)

    @classmethod
    def for_local_stack(cls, aws_port: int, state_dir: Path | None = None) -> UserPoolIdentities:
        """The pool of the local stack serving AWS on ``aws_port`` (StackNotRunning if none)."""
        env = stack_state.load(aws_port, state_dir)
        pool_id, client_id = _pool_and_client(env)
        cognito = boto3.session.Session().client(
            "cognito-idp",
            endpoint_url=env.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{aws_port}",
            region_name=_region(pool_id),
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "testing"),
        )
        return cls(cognito, pool_id, client_id)

    def ensure_user(self, email: str) -> bool:
        """Create the person (email verified, no message) unless present; True if created."""
        try:
            self._cognito.admin_create_user(
                UserPoolId=self.pool_id,
                Username=email,
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                ],
                MessageAction="SUPPRESS",
            )
        except ClientError as exc:
            if _error_code(exc) == "UsernameExistsException":
                return False
            raise IdentityError(f"cannot create {email}: {exc}") from exc
        return True

    def add_to_group(self, email: str, group: str) -> None:
        """Put the person in ``group`` (adding twice is harmless)."""
        if group not in resources.USER_POOL.groups:
            known = ", ".join(resources.USER_POOL.groups)
            raise IdentityError(f"unknown group {group!r} (groups: {known})")
        try:
            self._cognito.admin_add_user_to_group(
                UserPoolId=self.pool_id, Username=email, GroupName=group
            )
        except ClientError as exc:
            raise IdentityError(f"cannot add {email} to {group}: {exc}") from exc

    def access_token(self, email: str) -> str:
        """Sign the person in with a fresh random password; their access token."""
        attempt = 0
        while True:
            attempt += 1
            password = _random_password()
            try:
                self._cognito.admin_set_user_password(
                    UserPoolId=self.pool_id, Username=email, Password=password, Permanent=True
                )
                result = self._cognito.admin_initiate_auth(
                    UserPoolId=self.pool_id,
                    ClientId=self.client_id,
                    AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                    AuthParameters={"USERNAME": email, "PASSWORD": password},
                )
            except ClientError as exc:
                # Another tool reset the same person's password between our two calls.
                if _error_code(exc) == "NotAuthorizedException" and attempt < _PASSWORD_RESETS:
                    time.sleep(0.05 * attempt)
                    continue
                raise IdentityError(f"cannot sign {email} in: {exc}") from exc
            if "AuthenticationResult" not in result:
                raise IdentityError(
                    f"signing {email} in asks for {result.get('ChallengeName')}; "
                    "tokens are minted only for people without a pending challenge"
                )
            return str(result["AuthenticationResult"]["AccessToken"])

    def token(self, username: str, group: str | None = None) -> str:
        """The access token of USERNAME (an email or a plain name), created and grouped first."""
        email = login_email(username)
        self.ensure_user(email)
        if group:
            self.add_to_group(email, group)
        return self.access_token(email)


def _random_password() -> str:
    # Every character class the pool's policy requires, then 32 random characters.
    return "Aa1!" + secrets.token_urlsafe(24)
