"""Shared fixtures: an in-process moto account provisioned like the local stack."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

from chalicelib import aws as aws_getters

PREFIX = "evp"
REGION = "eu-west-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """GIVEN every platform resource provisioned in moto (eu-west-1, prefix evp)."""
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        from local_aws.provision import provision

        env = provision(PREFIX)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        aws_getters.reset()
        yield env
    aws_getters.reset()


@pytest.fixture
def chalice_app(aws_env: dict[str, str]) -> ModuleType:
    """The Chalice app module, imported with the provisioned environment."""
    module = importlib.import_module("app")
    return module


@pytest.fixture
def client(chalice_app: ModuleType) -> Iterator[Any]:
    from chalice.test import Client

    with Client(chalice_app.app) as test_client:
        yield test_client
