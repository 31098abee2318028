"""local_aws.moto_server: moto's per-request listing of its own package is read once."""

from __future__ import annotations

import os

import pytest
from moto import backends

from local_aws.moto_server import read_moto_modules_once


def test_the_service_modules_are_listed_once_and_answered_from_then_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN moto's own listing of its service modules
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    listed = tuple(backends.list_of_moto_modules())
    # WHEN it is read once, and listing a directory fails from then on
    read = read_moto_modules_once()

    def no_listing(path: str) -> list[str]:
        raise AssertionError(f"listed {path} again")

    monkeypatch.setattr(os, "listdir", no_listing)
    # THEN every later call answers the same modules without listing anything
    assert read == listed and {"sqs", "kinesis", "s3"} <= set(read)
    assert tuple(backends.list_of_moto_modules()) == listed
