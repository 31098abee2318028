"""boto3 clients for the event sources: the factory, and reading their errors and ARNs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

__all__ = ["ClientFactory", "arn_part", "client_error_code", "make_client_factory"]

ClientFactory = Callable[[str], Any]


def make_client_factory(session: boto3.session.Session | None = None) -> ClientFactory:
    """A thread-safe, caching ``service -> boto3 client`` factory over ``session``.

    Sessions are not thread-safe (clients are), so clients are created under a
    lock and shared. boto3 itself honours ``AWS_ENDPOINT_URL`` and the
    service-specific ``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL_DYNAMODB_STREAMS``.
    """
    sess = session or boto3.session.Session()
    lock = threading.Lock()
    cache: dict[str, Any] = {}
    config = Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 3})

    def factory(service: str) -> Any:
        with lock:
            if service not in cache:
                cache[service] = sess.client(service, config=config)  # type: ignore[call-overload]
            return cache[service]

    return factory


def client_error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def arn_part(arn: str, index: int, default: str) -> str:
    parts = arn.split(":")
    return parts[index] if len(parts) > index and parts[index] else default
