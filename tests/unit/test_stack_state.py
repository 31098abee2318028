"""The local stack's published environment, as the local tools read it."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from local_aws import stack_state


def test_a_published_environment_is_found_by_its_aws_port(tmp_path: Path) -> None:
    # GIVEN two stacks that published their environments
    stack_state.publish(5000, {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8001"}, tmp_path)
    stack_state.publish(5100, {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8101"}, tmp_path)
    # WHEN a tool loads the one on port 5100
    env = stack_state.load(5100, tmp_path)
    # THEN it gets that stack's endpoints, not the other's
    assert env == {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8101"}


def test_a_withdrawn_or_unknown_stack_is_a_clear_error(tmp_path: Path) -> None:
    # GIVEN a stack that published, then withdrew on shutdown
    stack_state.publish(5000, {"A": "1"}, tmp_path)
    stack_state.withdraw(5000, tmp_path)
    # WHEN a tool looks for it THEN it is told no stack runs there
    with pytest.raises(stack_state.StackNotRunning, match="5000"):
        stack_state.load(5000, tmp_path)


def test_using_a_stack_points_this_process_at_its_endpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a published stack, and a process whose environment says otherwise
    stack_state.publish(5000, {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8001"}, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://elsewhere:1")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    # WHEN a tool uses that stack
    stack_state.use(5000, tmp_path)
    # THEN boto3 clients created now reach the stack's DynamoDB Local, with no profile in the way
    client = boto3.session.Session(region_name="eu-west-1").client("dynamodb")
    assert client.meta.endpoint_url == "http://127.0.0.1:8001"
    assert "AWS_PROFILE" not in os.environ


def test_a_stack_is_found_by_the_url_of_its_api(tmp_path: Path) -> None:
    # GIVEN two stacks that published where their APIs answer
    stack_state.publish(5000, {stack_state.API_URL_VAR: "http://127.0.0.1:8000"}, tmp_path)
    stack_state.publish(5100, {stack_state.API_URL_VAR: "http://127.0.0.1:8100"}, tmp_path)
    # WHEN a tool given only an API URL looks for its stack
    # THEN the URL finds that stack, however the host and path are spelled, and no other
    assert stack_state.aws_port_of_api("http://localhost:8100/", tmp_path) == 5100
    assert stack_state.aws_port_of_api("http://127.0.0.1:8000", tmp_path) == 5000
    assert stack_state.aws_port_of_api("http://127.0.0.1:8200", tmp_path) is None
    assert stack_state.aws_port_of_api("https://127.0.0.1:8000", tmp_path) is None
    assert stack_state.aws_port_of_api("http://127.0.0.1:99999", tmp_path) is None
