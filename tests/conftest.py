"""Shared fixtures: an in-process moto account provisioned like the local stack."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import aws as aws_getters
from chalicelib.search import ensure_alias
from chalicelib.search.sqlite import SqliteSearchIndex

PREFIX = "evp"
REGION = "eu-west-1"


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    """GIVEN an empty in-process moto account (eu-west-1, test credentials, no endpoint)."""
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def aws_env(
    session: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """GIVEN every platform resource provisioned in moto (eu-west-1, prefix evp)."""
    from local_aws.provision import provision

    env = provision(PREFIX)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    aws_getters.reset()
    yield env
    aws_getters.reset()


@pytest.fixture
def sqlite_search_index(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[SqliteSearchIndex]:
    """GIVEN the settings pointing at an empty SQLite search index with its alias set up."""
    path = tmp_path / "search.sqlite3"
    monkeypatch.setenv("SEARCH_BACKEND", "sqlite")
    monkeypatch.setenv("SEARCH_SQLITE_PATH", str(path))
    aws_getters.reset()
    index = SqliteSearchIndex(path, "events")
    ensure_alias(index)
    yield index
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
