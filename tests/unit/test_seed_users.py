"""Behaviour of scripts/seed_users.py: deterministic generation and HTTP registration."""

from __future__ import annotations

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

from chalicelib.events import UserCreated

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
        UserCreated(user_id="u-1", **user)
        # AND the body is JSON-serialisable as sent
        assert json.loads(json.dumps(user)) == user


# --------------------------------------------------------------------------- HTTP


@dataclass
class StubState:
    """What the stub API has seen; configured per test."""

    fail_status: int = 503
    fail_remaining: int = 0
    taken: set[str] = field(default_factory=set)
    requests: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _StubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.server.state.statuses.append(status)

    def do_POST(self) -> None:
        state = self.server.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        key = self.headers.get("Idempotency-Key")
        if self.path != "/users":
            self._reply(404, {"error": "not_found", "message": self.path, "details": []})
            return
        with state.lock:
            state.requests.append((self.path, body, key))
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
            if body["email"] in state.taken:
                self._reply(409, {"error": "email_taken", "message": "exists", "details": []})
                return
            state.taken.add(body["email"])
            state.next_id += 1
            self._reply(201, {"id": f"user-{state.next_id}", **body})


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


def _summary(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def test_main_retries_a_503_reports_a_409_and_exits_1(
    stub_api: tuple[str, StubState], capsys: pytest.CaptureFixture[str], tmp_path: Path
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
    assert all(u["id"].startswith("user-") for u in written)


def test_main_exits_0_when_every_user_is_created(
    stub_api: tuple[str, StubState], capsys: pytest.CaptureFixture[str]
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


def test_rerunning_the_same_seed_reports_every_user_as_taken(
    stub_api: tuple[str, StubState], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a first successful run
    url, _ = stub_api
    assert seed_users.main(["--api-url", url, "--count", "4", "--seed", "8"]) == 0
    capsys.readouterr()

    # WHEN the same seed is run again
    code = seed_users.main(["--api-url", url, "--count", "4", "--seed", "8"])

    # THEN the same emails are sent again and all conflict
    summary = _summary(capsys.readouterr().out)
    assert code == 1
    assert summary["created"] == 0
    assert summary["failed"] == 4
    assert summary["errors"] == {"email_taken": 4}


def test_validation_errors_are_not_retried(stub_api: tuple[str, StubState]) -> None:
    # GIVEN a body the API rejects with 400
    url, state = stub_api

    # WHEN it is registered with retries available
    result = seed_users.register_users(
        url, [{"email": "broken@example.com"}], concurrency=1, retries=3, progress=False
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
    result = seed_users.register_users(url, users, concurrency=1, retries=2, progress=False)

    # THEN it was tried three times and fails with the server's error
    assert len(state.requests) == 3
    assert [(f.error, f.status) for f in result.failures] == [("unavailable", 502)]


def test_unreachable_api_counts_every_user_as_failed(
    capsys: pytest.CaptureFixture[str],
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
