"""Small getters for boto3 clients and tables; tests may call ``reset()`` or override.

Clients are created lazily (never at import time) and cached per process,
since Lambda reuses the process between invocations; the DynamoDB resource is
cached per thread.
"""

from __future__ import annotations

import threading
import urllib.request
from functools import cache
from typing import Any

import boto3
import orjson
from botocore.config import Config

from chalicelib.settings import get_settings

__all__ = ["client", "identity_attributes", "jwks", "reset", "table"]

JWKS_TIMEOUT_SECONDS = 5

# A boto3 session is not thread-safe while it creates clients (chalice local and
# the local event sources call in from many threads); clients themselves are.
_CREATE = threading.RLock()


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session(region_name=get_settings().region)


@cache
def _config() -> Config:
    # An explicit retries setting overrides boto3's AWS_MAX_ATTEMPTS, so it comes from
    # the settings, which read that variable.
    attempts = get_settings().aws_max_attempts
    return Config(
        retries={"total_max_attempts": attempts, "mode": "standard"}, max_pool_connections=32
    )


@cache
def _client(service: str) -> Any:
    return _session().client(service, config=_config())  # type: ignore[call-overload]


def client(service: str) -> Any:
    """A cached boto3 client for ``service``."""
    with _CREATE:
        return _client(service)


# boto3 resources, unlike clients, are not thread-safe (boto3's guide, "Multithreading"):
# the condition-expression builder of one shared by chalice local's request threads
# mixed two queries' attribute names ("KeyConditionExpressions must only contain one
# condition per key", a 500 under racing deposits). So each thread has its own; a
# Lambda process has one thread, so one resource, cached for its life. So are its
# Table objects: boto3 builds a Table's class anew on every ``resource.Table(name)``,
# which was a fifth of chalice local's time in the e2e tier (py-spy).
_PER_THREAD = threading.local()
_generation = 0


def _thread_dynamodb() -> tuple[Any, dict[str, Any]]:
    """This thread's DynamoDB resource and its Table objects by table name."""
    made = getattr(_PER_THREAD, "dynamodb", None)
    if made is None or made[0] != _generation:
        with _CREATE:
            resource = _session().resource("dynamodb", config=_config())
        made = (_generation, resource, {})
        _PER_THREAD.dynamodb = made
    return made[1], made[2]


def table(key: str) -> Any:
    """The DynamoDB Table resource of the table declared as ``key`` in resources.py."""
    resource, tables = _thread_dynamodb()
    name = get_settings().table(key)
    found = tables.get(name)
    if found is None:
        found = tables[name] = resource.Table(name)
    return found


def jwks(url: str) -> dict[str, Any]:
    """The JSON Web Key Set at ``url`` (the user pool's public signing keys).

    Tests replace this getter to serve their own key set without a network.
    """
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {url}")
    with urllib.request.urlopen(url, timeout=JWKS_TIMEOUT_SECONDS) as response:
        document = orjson.loads(response.read())
    if not isinstance(document, dict):
        raise ValueError("the JWKS document is not a JSON object")
    return document


def identity_attributes(access_token: str) -> dict[str, str]:
    """The attributes of the Cognito user an access token belongs to (``GetUser``).

    Authorised by the token itself, so it needs no IAM grant; it fails once
    the user is deleted or the token revoked. Tests replace this getter.
    """
    user = client("cognito-idp").get_user(AccessToken=access_token)
    return {attribute["Name"]: attribute["Value"] for attribute in user["UserAttributes"]}


def reset() -> None:
    """Forget cached settings and clients (tests switch environments with this)."""
    global _generation
    get_settings.cache_clear()
    with _CREATE:
        _session.cache_clear()
        _config.cache_clear()
        _client.cache_clear()
        _generation += 1
