"""Behaviour of scripts/seed_users.py: deterministic generation and HTTP registration."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import seed_users

from chalicelib.service.users import RegisterUser
from local_aws import stack_state
from local_aws.identities import IdentityError, UserPoolIdentities

CONTRACT_FIELDS = {"name", "lastname", "email", "address", "loyalty", "consents"}


# --------------------------------------------------------------------------- generation


def test_same_seed_gives_the_same_users() -> None:
    # GIVEN two generations with the same seed and ratios
    first = seed_users.generate_users(40, seed=7, loyalty_ratio=0.3, marketing_ratio=0.6)
    second = seed_users.generate_users(40, seed=7, loyalty_ratio=0.3, marketing_ratio=0.6)

    # THEN they are identical, field for field
    assert first == second


def test_different_seeds_give_different_users() -> None:
    # GIVEN generations with two different seeds
    first = seed_users.generate_users(40, seed=1)
    second = seed_users.generate_users(40, seed=2)

    # THEN no email is shared and the names differ
    assert {u["email"] for u in first}.isdisjoint({u["email"] for u in second})
    assert [(u["name"], u["lastname"]) for u in first] != [
        (u["name"], u["lastname"]) for u in second
    ]


def test_a_prefix_of_a_larger_run_is_the_smaller_run() -> None:
    # GIVEN the same seed with two counts
    small = seed_users.generate_users(10, seed=5)
    large = seed_users.generate_users(25, seed=5)

    # THEN the first users are the same (count only extends the run)
    assert large[:10] == small


def test_ratios_do_not_change_identities() -> None:
    # GIVEN the same seed with different flag ratios
    low = seed_users.generate_users(30, seed=9, loyalty_ratio=0.1, marketing_ratio=0.1)
    high = seed_users.generate_users(30, seed=9, loyalty_ratio=0.9, marketing_ratio=0.9)

    # THEN names, emails and addresses are unchanged, only the flags move
    def identity(users: list[dict[str, Any]]) -> list[tuple[str, ...]]:
        return [(u["name"], u["lastname"], u["email"], u["address"]) for u in users]

    assert identity(low) == identity(high)
    assert sum(u["loyalty"] for u in low) < sum(u["loyalty"] for u in high)


@pytest.mark.parametrize(("loyalty_ratio", "marketing_ratio"), [(0.3, 0.7), (0.5, 0.5), (0.8, 0.1)])
def test_ratios_are_roughly_honoured_and_counts_reproducible(
    loyalty_ratio: float, marketing_ratio: float
) -> None:
    # GIVEN a large generation
    users = seed_users.generate_users(
        2000, seed=11, loyalty_ratio=loyalty_ratio, marketing_ratio=marketing_ratio
    )
    loyalty = sum(u["loyalty"] for u in users)
    marketing = sum(u["consents"]["marketing"] for u in users)

    # THEN each flag's share is within a few points of its ratio
    assert abs(loyalty / 2000 - loyalty_ratio) < 0.04
    assert abs(marketing / 2000 - marketing_ratio) < 0.04

    # AND a second run with the same seed gives exactly the same counts
    again = seed_users.generate_users(
        2000, seed=11, loyalty_ratio=loyalty_ratio, marketing_ratio=marketing_ratio
    )
    assert sum(u["loyalty"] for u in again) == loyalty
    assert sum(u["consents"]["marketing"] for u in again) == marketing


def test_extreme_ratios_give_none_or_all() -> None:
    # GIVEN ratios of 0 and 1
    none = seed_users.generate_users(50, seed=3, loyalty_ratio=0.0, marketing_ratio=0.0)
    every = seed_users.generate_users(50, seed=3, loyalty_ratio=1.0, marketing_ratio=1.0)

    # THEN no user, respectively every user, has the flags
    assert not any(u["loyalty"] or u["consents"]["marketing"] for u in none)
    assert all(u["loyalty"] and u["consents"]["marketing"] for u in every)


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_out_of_range_ratio_is_rejected(bad: float) -> None:
    # WHEN a ratio outside [0, 1] is given THEN generation refuses it
    with pytest.raises(ValueError, match="ratio"):
        seed_users.generate_users(5, seed=1, loyalty_ratio=bad)


def test_emails_are_unique_within_a_run() -> None:
    # GIVEN a run large enough for Faker to repeat names
    users = seed_users.generate_users(3000, seed=42)

    # THEN every email is still distinct (case-insensitively)
    emails = [u["email"].lower() for u in users]
    assert len(set(emails)) == len(emails)


def test_payload_matches_the_post_users_contract() -> None:
    # GIVEN generated users
    users = seed_users.generate_users(200, seed=21)

    for user in users:
        # THEN each body has exactly the contract fields with the contract types
        assert set(user) == CONTRACT_FIELDS
        assert all(isinstance(user[k], str) and user[k].strip() for k in ("name", "lastname"))
        assert isinstance(user["loyalty"], bool)
        assert set(user["consents"]) == {"marketing"}
        assert isinstance(user["consents"]["marketing"], bool)
        # AND the address is one non-empty line
        assert isinstance(user["address"], str) and user["address"].strip()
        assert "\n" not in user["address"]
        # AND the email is a plain-ASCII address the platform's model accepts
        assert re.fullmatch(r"[a-z0-9.]+@example\.com", user["email"])
        RegisterUser.model_validate(user)
        # AND the body is JSON-serialisable as sent
        assert json.loads(json.dumps(user)) == user


# --------------------------------------------------------------------------- HTTP


class FakeIdentities:
    """A user pool in memory: one opaque token per person, the same person on every call."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.minted: list[str] = []
        self._lock = threading.Lock()

    def token(self, username: str, group: str | None = None) -> str:
        if username in self.refuse:
            raise IdentityError(f"cannot create {username}")
        with self._lock:
            self.minted.append(username)
        return "tok-" + hashlib.sha256(username.lower().encode()).hexdigest()[:16]


@dataclass
class StubState:
    """What the stub API has seen; configured per test."""

    fail_status: int = 503
    fail_remaining: int = 0
    taken: set[str] = field(default_factory=set)
    registered: set[str] = field(default_factory=set)
    requests: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    tokens: list[str | None] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _StubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        # Recorded before the reply leaves: a client that got its answer finds it here.
        self.server.state.statuses.append(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        state = self.server.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        key = self.headers.get("Idempotency-Key")
        if self.path != "/users":
            self._reply(404, {"error": "not_found", "message": self.path, "details": []})
            return
        authorization = self.headers.get("Authorization", "")
        token = (
            authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
        )
        with state.lock:
            state.requests.append((self.path, body, key))
            state.tokens.append(token)
            if token is None:
                self._reply(401, {"error": "unauthorized", "message": "no token", "details": []})
                return
            if state.fail_remaining > 0:
                state.fail_remaining -= 1
                self._reply(state.fail_status, {"error": "unavailable", "message": "try again"})
                return
            missing = sorted(CONTRACT_FIELDS - set(body))
            if missing:
                self._reply(
                    400, {"error": "validation_error", "message": "bad", "details": missing}
                )
                return
            # The caller registers themselves: the token's person is the user id.
            sub = "sub-" + token
            if sub in state.registered:
                self._reply(409, {"error": "already_registered", "message": "", "details": []})
                return
            if body["email"] in state.taken:
                self._reply(409, {"error": "email_taken", "message": "exists", "details": []})
                return
            state.taken.add(body["email"])
            state.registered.add(sub)
            self._reply(201, {"id": sub, **body})


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True
    state: StubState


@pytest.fixture
def stub_api() -> Iterator[tuple[str, StubState]]:
    server = _StubServer(("127.0.0.1", 0), _Handler)
    server.state = StubState()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seed_users, "DEFAULT_BACKOFF", 0.01)


@pytest.fixture
def identities(monkeypatch: pytest.MonkeyPatch) -> FakeIdentities:
    """GIVEN an in-memory user pool that the CLI creates people in."""
    fake = FakeIdentities()
    monkeypatch.setattr(seed_users, "identity_provider", lambda args, environ: fake)
    return fake


def _summary(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def test_main_retries_a_503_reports_a_409_and_exits_1(
    stub_api: tuple[str, StubState],
    identities: FakeIdentities,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # GIVEN a stub API that answers 503 once and already holds one of the emails
    url, state = stub_api
    users = seed_users.generate_users(6, seed=13, loyalty_ratio=0.5, marketing_ratio=0.5)
    state.fail_remaining = 1
    state.taken.add(users[2]["email"])
    output = tmp_path / "out" / "users.json"

    # WHEN the script seeds those users
    code = seed_users.main(
        [
            "--api-url", url + "/", "--count", "6", "--seed", "13", "--loyalty-ratio", "0.5",
            "--marketing-ratio", "0.5", "--concurrency", "3", "--output", str(output),
        ]
    )  # fmt: skip

    # THEN the 503 was retried, the duplicate failed and the exit code says so
    out = capsys.readouterr()
    created_sent = [u for i, u in enumerate(users) if i != 2]
    summary = _summary(out.out)
    assert summary["created"] == 5
    assert summary["failed"] == 1
    assert summary["errors"] == {"email_taken": 1}
    assert summary["loyalty"] == sum(u["loyalty"] for u in created_sent)
    assert summary["marketing"] == sum(u["consents"]["marketing"] for u in created_sent)
    assert isinstance(summary["seconds"], int | float) and summary["seconds"] >= 0
    assert code == 1
    assert sorted(state.statuses) == sorted([201] * 5 + [409, 503])
    assert users[2]["email"] in out.err

    # AND the retried request reused its Idempotency-Key
    keys = [key for _, _, key in state.requests]
    assert all(keys) and len(keys) == 7 and len(set(keys)) == 6

    # AND the output file holds the API's responses for the created users, in input order
    written = json.loads(output.read_text())
    assert [u["email"] for u in written] == [u["email"] for u in created_sent]
    assert all(u["id"].startswith("sub-tok-") for u in written)
    # AND every person registered with their own token, the retry with the same one
    assert sorted(set(identities.minted)) == sorted(u["email"] for u in users)
    assert len(set(state.tokens)) == 6 and None not in state.tokens


def test_main_exits_0_when_every_user_is_created(
    stub_api: tuple[str, StubState],
    identities: FakeIdentities,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an empty stub API
    url, state = stub_api

    # WHEN the script seeds ten users with everyone in loyalty and no marketing
    code = seed_users.main(
        ["--api-url", url, "--count", "10", "--loyalty-ratio", "1", "--marketing-ratio", "0"]
    )

    # THEN all are created, the summary is the last stdout line and the exit code is 0
    summary = _summary(capsys.readouterr().out)
    assert code == 0
    assert summary["created"] == 10
    assert summary["failed"] == 0
    assert summary["loyalty"] == 10
    assert summary["marketing"] == 0
    assert len(state.taken) == 10
    # AND the bodies sent are exactly the seed's generated users
    expected = seed_users.generate_users(10, seed=42, loyalty_ratio=1, marketing_ratio=0)
    sent = sorted((body for _, body, _ in state.requests), key=lambda b: b["email"])
    assert sent == sorted(expected, key=lambda u: u["email"])


def test_rerunning_the_same_seed_skips_and_counts_the_people_already_registered(
    stub_api: tuple[str, StubState],
    identities: FakeIdentities,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a first successful run
    url, _ = stub_api
    assert seed_users.main(["--api-url", url, "--count", "4", "--seed", "8"]) == 0
    capsys.readouterr()

    # WHEN the same seed is run again, for two more people
    code = seed_users.main(["--api-url", url, "--count", "6", "--seed", "8"])

    # THEN the same people come back with the same identities: the four are skipped and
    # counted, the two new ones created, nothing failed
    out, err = capsys.readouterr()
    summary = _summary(out)
    assert code == 0
    assert (summary["created"], summary["existing"], summary["failed"]) == (2, 4, 0)
    assert summary["errors"] == {}
    # AND one line says so, and how to get other people
    (line,) = [line for line in err.splitlines() if "registered before" in line]
    assert "--seed" in line


def test_validation_errors_are_not_retried(stub_api: tuple[str, StubState]) -> None:
    # GIVEN a body the API rejects with 400
    url, state = stub_api

    # WHEN it is registered with retries available
    result = seed_users.register_users(
        url,
        [{"email": "broken@example.com"}],
        concurrency=1,
        identities=FakeIdentities(),
        retries=3,
        progress=False,
    )

    # THEN it fails once with the API's error code, without retrying
    assert [(f.error, f.status) for f in result.failures] == [("validation_error", 400)]
    assert len(state.requests) == 1
    assert result.created == []


def test_persistent_5xx_gives_up_after_the_retries(stub_api: tuple[str, StubState]) -> None:
    # GIVEN an API that answers 502 on every call
    url, state = stub_api
    state.fail_status, state.fail_remaining = 502, 1000

    # WHEN a user is registered with two retries
    users = seed_users.generate_users(1, seed=1)
    result = seed_users.register_users(
        url, users, concurrency=1, identities=FakeIdentities(), retries=2, progress=False
    )

    # THEN it was tried three times and fails with the server's error
    assert len(state.requests) == 3
    assert [(f.error, f.status) for f in result.failures] == [("unavailable", 502)]


def test_unreachable_api_counts_every_user_as_failed(
    identities: FakeIdentities, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a port nothing listens on
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()

    # WHEN the script runs against it
    code = seed_users.main(
        ["--api-url", f"http://127.0.0.1:{port}", "--count", "3", "--retries", "1"]
    )

    # THEN every user fails as a connection error and the exit code is 1
    summary = _summary(capsys.readouterr().out)
    assert code == 1
    assert summary["created"] == 0
    assert summary["failed"] == 3
    assert summary["errors"] == {"connection_error": 3}


def test_a_person_without_an_identity_fails_alone_without_calling_the_api(
    stub_api: tuple[str, StubState],
) -> None:
    # GIVEN a user pool that refuses one of three people
    url, state = stub_api
    users = seed_users.generate_users(3, seed=4)
    pool = FakeIdentities(refuse=frozenset({users[1]["email"]}))

    # WHEN they are registered
    result = seed_users.register_users(url, users, concurrency=2, identities=pool, progress=False)

    # THEN that person fails as an identity error and never reached the API; the others register
    assert [(f.email, f.error) for f in result.failures] == [(users[1]["email"], "identity_error")]
    assert users[1]["email"] not in {body["email"] for _, body, _ in state.requests}
    assert len(result.created) == 2


def test_without_a_user_pool_the_cli_exits_2_before_any_request(
    stub_api: tuple[str, StubState],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # GIVEN no COGNITO_* variables and a Chalice config whose stage names no pool
    url, state = stub_api
    monkeypatch.delenv("COGNITO_USER_POOL_ID", raising=False)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"stages": {"dev": {"environment_variables": {}}}}))

    # WHEN seeding against the stage
    code = seed_users.main(["--api-url", url, "--chalice-config", str(config)])

    # THEN it says which settings are missing, exits 2 and sent nothing
    assert code == 2
    assert "COGNITO_USER_POOL_ID" in capsys.readouterr().err
    assert state.requests == []


def test_without_a_running_local_stack_the_cli_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # WHEN seeding against an AWS port no local stack publishes
    code = seed_users.main(["--aws-port", "1", "--state-dir", str(tmp_path)])
    # THEN it says how to start one
    assert code == 2
    assert "local_stack.py up" in capsys.readouterr().err


def _args(*argv: str) -> Any:
    return seed_users._parser().parse_args(list(argv))


def test_the_pool_comes_from_the_local_stack_the_environment_or_the_stage(
    tmp_path: Path,
) -> None:
    # GIVEN a local stack's published pool, an environment's and a Chalice stage's
    stack_state.publish(
        5123,
        {"COGNITO_USER_POOL_ID": "eu-west-1_local", "COGNITO_APP_CLIENT_ID": "c-local"},
        tmp_path,
    )
    environ = {"COGNITO_USER_POOL_ID": "eu-west-1_env", "COGNITO_APP_CLIENT_ID": "c-env"}
    config = tmp_path / "config.json"
    stage_env = {"COGNITO_USER_POOL_ID": "us-east-1_stage", "COGNITO_APP_CLIENT_ID": "c-stage"}
    config.write_text(json.dumps({"stages": {"prod": {"environment_variables": stage_env}}}))

    # WHEN resolving the pool for each way of calling the script
    local = seed_users.identity_provider(
        _args("--aws-port", "5123", "--state-dir", str(tmp_path)), environ
    )
    from_env = seed_users.identity_provider(_args(), environ)
    staged = seed_users.identity_provider(
        _args("--stage", "prod", "--chalice-config", str(config)), {}
    )

    # THEN --aws-port wins, then the environment, then the stage's config
    assert isinstance(local, UserPoolIdentities) and local.pool_id == "eu-west-1_local"
    assert isinstance(from_env, UserPoolIdentities) and from_env.client_id == "c-env"
    assert isinstance(staged, UserPoolIdentities) and staged.pool_id == "us-east-1_stage"


@pytest.mark.parametrize(
    "argv",
    [
        ["--count", "-1"],
        ["--loyalty-ratio", "2"],
        ["--marketing-ratio", "x"],
        ["--concurrency", "0"],
    ],
)
def test_invalid_arguments_exit_2(argv: list[str]) -> None:
    # WHEN the CLI gets a bad argument THEN argparse rejects it before any request
    with pytest.raises(SystemExit) as exc:
        seed_users.main(argv)
    assert exc.value.code == 2
