"""Small getters for boto3 clients and tables; tests may call ``reset()`` or override.

Clients are created lazily (never at import time) and cached per process,
since Lambda reuses the process between invocations.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.settings import get_settings

__all__ = ["client", "reset", "table"]

_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32)
# A boto3 session is not thread-safe while it creates clients (chalice local and
# the local event sources call in from many threads); clients themselves are.
_CREATE = threading.RLock()


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session(region_name=get_settings().region)


@cache
def _client(service: str) -> Any:
    return _session().client(service, config=_CONFIG)  # type: ignore[call-overload]


def client(service: str) -> Any:
    """A cached boto3 client for ``service``."""
    with _CREATE:
        return _client(service)


@cache
def _dynamodb() -> Any:
    return _session().resource("dynamodb", config=_CONFIG)


def _resource() -> Any:
    with _CREATE:
        return _dynamodb()


def table(key: str) -> Any:
    """The DynamoDB Table resource of the table declared as ``key`` in resources.py."""
    return _resource().Table(get_settings().table(key))


def reset() -> None:
    """Forget cached settings and clients (tests switch environments with this)."""
    get_settings.cache_clear()
    with _CREATE:
        _session.cache_clear()
        _client.cache_clear()
        _dynamodb.cache_clear()
