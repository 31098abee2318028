#!/usr/bin/env python
"""Register realistic fake users through the HTTP API, each with their own identity.

    python scripts/seed_users.py [--api-url URL] [--count N] [--loyalty-ratio R] [--seed S]
                                 [--marketing-ratio R] [--concurrency C] [--output FILE]
                                 [--aws-port P | --stage STAGE]

Users are generated deterministically from ``--seed`` (same seed, same users).
Every person gets an identity in the platform's Cognito user pool (username:
their email; created if missing) and registers as themselves: ``POST
{api-url}/users`` with their own access token, so their user id is the
token's ``sub``. The pool (and, without ``--api-url``, the API) is the local
stack's with ``--aws-port`` (or, without it, the local stack that published
``--api-url``, by default http://127.0.0.1:8000, as its API), else the
one named by ``COGNITO_USER_POOL_ID``/``COGNITO_APP_CLIENT_ID`` in the
environment, else the Chalice stage's (``--stage``, default dev, as
scripts/tf_outputs_to_chalice.py wrote it); creating people there needs IAM
credentials for ``cognito-idp:Admin*``. Registration runs concurrently. Transient failures
(connection errors, timeouts, 5xx, 429) are retried with exponential backoff;
every attempt for one user carries the same ``Idempotency-Key`` so a retry can
never register the user twice. A person already registered (``409
already_registered``: the seed ran before) is skipped and counted as
``existing``; any other 409 (``email_taken``) or 400 counts as failed.

Progress goes to stderr. The last line on stdout is a JSON summary
``{"created", "existing", "failed", "loyalty", "marketing", "seconds", "errors"}``, where
``loyalty``/``marketing`` count *created* users with that flag. ``--output``
writes the API's responses for the created users as a JSON list. Exit 1 if any
user failed, 2 if no user pool was found, 0 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import threading
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from faker import Faker
from requests.adapters import HTTPAdapter
from tqdm import tqdm

from chalicelib import resources
from local_aws import stack_state
from local_aws.identities import IdentityError, UserPoolIdentities
from local_aws.port_arguments import tcp_port
from local_aws.tool_errors import one_line_errors

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_STAGE = "dev"
DEFAULT_CHALICE_CONFIG = ROOT / "chalice_app" / ".chalice" / "config.json"
DEFAULT_COUNT = 50
DEFAULT_LOYALTY_RATIO = 0.5
DEFAULT_MARKETING_RATIO = 0.5
DEFAULT_SEED = 42
DEFAULT_CONCURRENCY = 8
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.25
DEFAULT_TIMEOUT = 10.0
EMAIL_DOMAIN = "example.com"

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


class TokenSource(Protocol):
    """Mints a person's access token, creating their identity if missing."""

    def token(self, username: str, group: str | None = None) -> str: ...


@dataclass(frozen=True)
class Failure:
    """One user that could not be registered."""

    email: str
    error: str
    status: int | None = None
    message: str = ""


@dataclass(frozen=True)
class Existing:
    """One user registered by an earlier run (same seed, same person): skipped."""

    email: str


@dataclass
class SeedResult:
    """Outcome of a seeding run; ``created`` holds the API's responses in input order."""

    created: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    existing: int = 0
    loyalty: int = 0
    marketing: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The JSON summary printed as the last line of stdout."""
        return {
            "created": len(self.created),
            "existing": self.existing,
            "failed": len(self.failures),
            "loyalty": self.loyalty,
            "marketing": self.marketing,
            "seconds": round(self.seconds, 3),
            "errors": dict(sorted(Counter(f.error for f in self.failures).items())),
        }


def _flag(created: dict[str, Any], sent: dict[str, Any], name: str) -> bool:
    """A created user's flag as the API echoed it, else as it was sent."""
    if name == "marketing":
        consents = created.get("consents")
        if isinstance(consents, dict) and "marketing" in consents:
            return consents["marketing"] is True
        return sent.get("consents", {}).get("marketing") is True
    return (created[name] if name in created else sent.get(name)) is True


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NON_ALNUM.sub("", ascii_text.lower()) or "user"


def _seed_token(seed: int) -> str:
    return hashlib.sha256(f"seed_users:{seed}".encode()).hexdigest()[:6]


def _check_ratio(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def generate_users(
    count: int,
    seed: int = DEFAULT_SEED,
    loyalty_ratio: float = DEFAULT_LOYALTY_RATIO,
    marketing_ratio: float = DEFAULT_MARKETING_RATIO,
) -> list[dict[str, Any]]:
    """Build ``count`` deterministic ``POST /users`` bodies for ``seed``.

    Emails are unique within a run (index) and across seeds (a seed-derived
    token). Identity fields come from Faker and the flags from a separate
    seeded RNG, so changing a ratio never changes names, emails or addresses.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    _check_ratio("loyalty_ratio", loyalty_ratio)
    _check_ratio("marketing_ratio", marketing_ratio)

    fake = Faker("en_US")
    fake.seed_instance(seed)
    flags = random.Random(seed)
    token = _seed_token(seed)
    users: list[dict[str, Any]] = []
    for index in range(count):
        name = fake.first_name()
        lastname = fake.last_name()
        address = ", ".join(line.strip() for line in fake.address().splitlines() if line.strip())
        email = f"{_slug(name)}.{_slug(lastname)}.{index:04d}.{token}@{EMAIL_DOMAIN}"
        users.append(
            {
                "name": name,
                "lastname": lastname,
                "email": email,
                "address": address,
                "loyalty": flags.random() < loyalty_ratio,
                "consents": {"marketing": flags.random() < marketing_ratio},
            }
        )
    return users


class _Sessions:
    """One ``requests.Session`` per worker thread (sessions are not thread-safe)."""

    def __init__(self, pool_size: int) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[requests.Session] = []
        self._pool_size = pool_size

    def get(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["Accept"] = "application/json"
            self._local.session = session
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._all:
                session.close()
            self._all.clear()


def _error_of(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], str(body.get("message", ""))
    return f"http_{response.status_code}", response.text[:200]


def _register_one(
    sessions: _Sessions,
    identities: TokenSource,
    url: str,
    user: dict[str, Any],
    retries: int,
    backoff: float,
    timeout: float,
) -> dict[str, Any] | Failure | Existing:
    email = str(user.get("email", ""))
    try:
        token = identities.token(email)
    except IdentityError as exc:
        return Failure(email=email, error="identity_error", message=str(exc)[:200])
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {token}"}
    failure = Failure(email=email, error="not_attempted")
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
        try:
            response = sessions.get().post(url, json=user, headers=headers, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            failure = Failure(email=email, error="connection_error", message=str(exc)[:200])
            continue
        if response.status_code in (200, 201):
            try:
                created = response.json()
            except ValueError:
                return Failure(email, "invalid_response", response.status_code, response.text[:200])
            if isinstance(created, dict):
                return created
            return Failure(email, "invalid_response", response.status_code, response.text[:200])
        error, message = _error_of(response)
        if response.status_code == 409 and error == "already_registered":
            return Existing(email)
        failure = Failure(email=email, error=error, status=response.status_code, message=message)
        if response.status_code not in _RETRY_STATUSES:
            return failure
    return failure


def register_users(
    api_url: str,
    users: list[dict[str, Any]],
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    identities: TokenSource,
    retries: int = DEFAULT_RETRIES,
    backoff: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> SeedResult:
    """Register ``users`` concurrently via ``POST {api_url}/users``, each with their token.

    ``identities`` gives every user (by email) their own access token. Transient
    errors are retried ``retries`` times with exponential backoff; 409/400 and
    other client errors fail immediately.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    delay = DEFAULT_BACKOFF if backoff is None else backoff
    url = api_url.rstrip("/") + "/users"
    outcomes: list[dict[str, Any] | Failure | Existing | None] = [None] * len(users)
    sessions = _Sessions(pool_size=concurrency)
    started = time.perf_counter()
    bar = tqdm(
        total=len(users), desc="seeding users", unit="user", file=sys.stderr, disable=not progress
    )
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="seed") as pool:
            futures = {
                pool.submit(
                    _register_one, sessions, identities, url, user, retries, delay, timeout
                ): index
                for index, user in enumerate(users)
            }
            failed = 0
            for future in as_completed(futures):
                done = future.result()
                outcomes[futures[future]] = done
                bar.update(1)
                if isinstance(done, Failure):
                    failed += 1
                    bar.set_postfix_str(f"failed={failed}")
    finally:
        bar.close()
        sessions.close()
    result = SeedResult(seconds=time.perf_counter() - started)
    for sent, outcome in zip(users, outcomes, strict=True):
        if isinstance(outcome, Failure):
            result.failures.append(outcome)
        elif isinstance(outcome, Existing):
            result.existing += 1
        elif outcome is not None:
            result.created.append(outcome)
            result.loyalty += _flag(outcome, sent, "loyalty")
            result.marketing += _flag(outcome, sent, "marketing")
    return result


def _stage_environment(config_path: Path, stage: str) -> dict[str, str]:
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise IdentityError(f"cannot read the Chalice config {config_path}: {exc}") from exc
    env = config.get("stages", {}).get(stage, {}).get("environment_variables", {})
    return {str(k): str(v) for k, v in env.items()}


def identity_provider(args: argparse.Namespace, environ: Mapping[str, str]) -> TokenSource:
    """The user pool to create people in: the local stack's, the environment's or the stage's."""
    if args.aws_port is not None:
        return UserPoolIdentities.for_local_stack(args.aws_port, args.state_dir)
    if environ.get(resources.USER_POOL.pool_id_env_var):
        return UserPoolIdentities.from_environment(environ)
    return UserPoolIdentities.from_environment(_stage_environment(args.chalice_config, args.stage))


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _api_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # an out-of-range port, a broken IPv6 address
        usable = False
    if not usable:
        raise argparse.ArgumentTypeError(
            f"not an http(s) URL with a host, such as http://127.0.0.1:8000: {text!r}"
        )
    return text


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seed_users.py", description="Register realistic fake users through the HTTP API."
    )
    parser.add_argument(
        "--api-url",
        type=_api_url,
        help=f"API base URL (default: the --aws-port stack's API, else {DEFAULT_API_URL})",
    )
    parser.add_argument("--count", type=_non_negative, default=DEFAULT_COUNT)
    parser.add_argument("--loyalty-ratio", type=_ratio, default=DEFAULT_LOYALTY_RATIO)
    parser.add_argument("--marketing-ratio", type=_ratio, default=DEFAULT_MARKETING_RATIO)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--concurrency", type=_positive, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--retries", type=_non_negative, default=DEFAULT_RETRIES)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per call")
    parser.add_argument("--output", type=Path, help="write the created users (JSON list) here")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    pool = parser.add_mutually_exclusive_group()
    pool.add_argument(
        "--aws-port", type=tcp_port, help="a running local stack's AWS port: use its user pool"
    )
    pool.add_argument(
        "--stage",
        default=DEFAULT_STAGE,
        help="Chalice stage whose user pool to use (%(default)s), unless COGNITO_* are set",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=stack_state.DEFAULT_STATE_DIR,
        help="where the local stack publishes its environment (`up --state-dir`)",
    )
    parser.add_argument("--chalice-config", type=Path, default=DEFAULT_CHALICE_CONFIG)
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code (1 if any user failed)."""
    args = _parser().parse_args(argv)
    if args.aws_port is None and not os.environ.get(resources.USER_POOL.pool_id_env_var):
        # The API URL of a running local stack names that stack as well as its AWS port.
        args.aws_port = stack_state.aws_port_of_api(args.api_url or DEFAULT_API_URL, args.state_dir)
    try:
        identities = identity_provider(args, os.environ)
    except (stack_state.StackNotRunning, IdentityError) as exc:
        print(f"error: {exc}{_stack_hint(args)}", file=sys.stderr)
        return 2
    # A stack that stops answering mid-run: one line, not a traceback per thread.
    with one_line_errors(args.aws_port):
        return _seed(args, identities)


def _stack_hint(args: argparse.Namespace) -> str:
    """Which --aws-port to pass, when a local stack runs and none was named."""
    if args.aws_port is not None:
        return ""
    ports = stack_state.published_ports(args.state_dir)
    if not ports:
        return ""
    return f" (a local stack serves AWS on port {ports[0]}: pass --aws-port {ports[0]})"


def _seed(args: argparse.Namespace, identities: TokenSource) -> int:
    users = generate_users(args.count, args.seed, args.loyalty_ratio, args.marketing_ratio)
    api_url = args.api_url or DEFAULT_API_URL
    if args.api_url is None and args.aws_port is not None:
        published = stack_state.load(args.aws_port, args.state_dir)
        api_url = published.get(stack_state.API_URL_VAR, DEFAULT_API_URL)
    result = register_users(
        api_url,
        users,
        args.concurrency,
        identities=identities,
        retries=args.retries,
        timeout=args.timeout,
        progress=not args.no_progress,
    )
    for failure in result.failures[:10]:
        status = failure.status if failure.status is not None else "-"
        print(
            f"failed: {failure.email}: {failure.error} ({status}) {failure.message}".rstrip(),
            file=sys.stderr,
        )
    if len(result.failures) > 10:
        print(f"... and {len(result.failures) - 10} more failures", file=sys.stderr)
    if result.existing:
        print(
            f"{result.existing} of these people were registered before (seed {args.seed}): "
            "skipped; --seed N registers others",
            file=sys.stderr,
        )
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result.created, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result.summary()), flush=True)
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
