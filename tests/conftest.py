"""Shared fixtures: an in-process moto account provisioned like the local stack (once
per run, restored for each test), a stand-in user pool signing test tokens, and API
clients acting as someone."""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from chalicelib.adapters import aws as aws_getters
from chalicelib.adapters.personal_data import forget_all_keys
from chalicelib.adapters.search import ensure_alias
from chalicelib.adapters.search.sqlite import SqliteSearchIndex
from local_aws import dynamodb_local
from local_aws.provision import provision
from local_aws.stack_process import free_port, wait_for
from local_aws.token_signer import TokenSigner
from tests.handler.helpers import ApiClient
from tests.moto_account import AccountSnapshot
from tests.scheduling import make_scheduler

PREFIX = "evp"
REGION = "eu-west-1"


@pytest.fixture(scope="session", autouse=True)
def _one_botocore_loader() -> Iterator[None]:
    """Every boto3 session of the run reads each service's model files once.

    botocore caches them per session, and the tests make a session per moto
    account and per client reset: reading them again is most of creating a client.
    """
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(
            botocore.session, "create_loader", cache(botocore.loaders.create_loader)
        )
        yield


@pytest.fixture(scope="session")
def dynamodb_local_url() -> Iterator[str]:
    """GIVEN DynamoDB Local running in memory on a free loopback port (for the session)."""
    missing = dynamodb_local.missing_requirement()
    if missing:
        pytest.fail(missing)
    port = free_port()
    process = subprocess.Popen(
        dynamodb_local.command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        client = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        ).client("dynamodb", endpoint_url=url)

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError("DynamoDB Local exited")
            try:
                client.list_tables()
            except Exception:
                return False
            return True

        wait_for(answers, timeout=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials in eu-west-1 and no endpoint: boto3 calls go to in-process moto."""
    for var in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    """GIVEN an empty in-process moto account (eu-west-1, test credentials, no endpoint)."""
    _test_credentials(monkeypatch)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture(scope="session")
def provisioned_account() -> tuple[dict[str, str], AccountSnapshot]:
    """Every platform resource provisioned in moto once per test run, and its snapshot."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _test_credentials(monkeypatch)
        with mock_aws():
            env = provision(PREFIX, session=boto3.session.Session(region_name=REGION))
            return env, AccountSnapshot()


@pytest.fixture
def aws_env(
    session: boto3.session.Session,
    provisioned_account: tuple[dict[str, str], AccountSnapshot],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """GIVEN every platform resource provisioned in moto (eu-west-1, prefix evp), and
    nothing in them: the session's provisioned account, restored for this test."""
    env, snapshot = provisioned_account
    snapshot.restore()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    aws_getters.reset()
    # User ids are token subs, the same in every test: keys cached in the last account are stale.
    forget_all_keys()
    yield dict(env)
    aws_getters.reset()
    forget_all_keys()


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


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    """A user pool signing key of the tests' own (one RSA key per session)."""
    return TokenSigner()


@pytest.fixture
def identity_pool(
    aws_env: dict[str, str], signer: TokenSigner, monkeypatch: pytest.MonkeyPatch
) -> TokenSigner:
    """GIVEN the API configured for the test pool, its key set and its people's
    emails (``<sub>@example.com``, verified) served in-process."""
    for name, value in signer.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(aws_getters, "jwks", lambda url: signer.jwks())
    monkeypatch.setattr(aws_getters, "identity_attributes", signer.identity_attributes)
    # The signer lives for the session: another test's people must not leak in.
    signer.forget_people()
    aws_getters.reset()
    return signer


@pytest.fixture
def anonymous(chalice_app: ModuleType, identity_pool: TokenSigner) -> Iterator[Any]:
    """The in-process test client of the API, sending no token."""
    from chalice.test import Client

    with Client(chalice_app.app) as test_client:
        yield test_client


@pytest.fixture
def as_caller(anonymous: Any, identity_pool: TokenSigner) -> Callable[..., ApiClient]:
    """``as_caller(sub, *groups)``: a client sending a valid access token of that person."""

    def make(sub: str, *groups: str) -> ApiClient:
        return ApiClient(anonymous, sub, identity_pool.token(sub, tuple(groups)))

    return make


@pytest.fixture
def client(as_caller: Callable[..., ApiClient]) -> ApiClient:
    """The client of one customer, ``ada`` (no group)."""
    return as_caller("ada")


@pytest.fixture
def admin(as_caller: Callable[..., ApiClient]) -> ApiClient:
    """The client of an operator in the ``admin`` group."""
    return as_caller("operator", "admin")


# Fixtures that start a process (Java, moto server, the local stack): their tests are slow.
STARTS_A_PROCESS = frozenset({"dynamodb_local_url", "moto_endpoint", "local_stack"})
TESTS = Path(__file__).parent


# Files whose tests share one expensive module fixture (a flow audit, a terraform plan,
# a chalice package, a cold start per function): under pytest-xdist each runs on one
# worker, so it is built once.
ONE_WORKER_FILES = {
    "infra/test_iam_least_privilege.py": "iam-audit",
    "infra/test_monitoring_plan.py": "monitoring-plan",
    "infra/test_chalice_package.py": "chalice-package",
    "tools/test_cold_import.py": "cold-import",
}
# The longest work first (pyproject.toml's --no-loadscope-reorder keeps this order):
# tests/e2e and the deploy rehearsal start at once, one on each worker, and the
# rest fills in around them, the heavier parts before the many short tests.
LONGEST_FIRST = (
    "e2e/",
    "infra/test_deploy_rehearsal.py",
    "infra/test_iam_least_privilege.py",
    "infra/test_monitoring_plan.py",
    "infra/test_parity.py::test_terraform_is_given",
    "infra/test_terraform_static.py::test_checkov",
    "infra/test_chalice_package.py",
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """loadgroup, only a short unit queued behind the deploy rehearsal (tests/scheduling.py)."""
    return make_scheduler(config, log)


def _run_order(item: pytest.Item) -> int:
    path = item.nodeid.removeprefix("tests/")
    return next(
        (rank for rank, prefix in enumerate(LONGEST_FIRST) if path.startswith(prefix)),
        len(LONGEST_FIRST),
    )


# First: pytest-xdist reads the xdist_group marks in its own hook, registered before this one.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark by tier, so ``-m "not slow"`` is the in-process tiers whatever a file declares.

    tests/e2e is ``e2e`` and ``slow``; tests/tools (processes) is ``slow``; so is any
    test using a fixture that starts a process. Under pytest-xdist (``make test``),
    tests/e2e runs on one worker, so that one local stack serves it all, and so
    does each of ONE_WORKER_FILES; the longest work runs first (LONGEST_FIRST).
    """
    items.sort(key=_run_order)
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier == "e2e":
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("e2e"))
        group = ONE_WORKER_FILES.get(item.path.relative_to(TESTS).as_posix())
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
        fixtures = set(getattr(item, "fixturenames", ()))
        if tier in ("e2e", "tools") or STARTS_A_PROCESS & fixtures:
            item.add_marker(pytest.mark.slow)
