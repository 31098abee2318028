"""End to end: a read model added after data exists is backfilled and kept live, with no
gap and no double count while writes go on; a failing read model leaves the others current."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from boto3.dynamodb.types import TypeDeserializer

from chalicelib.adapters.read_model_catalog import read_model
from local_aws.stack_process import LocalStackProcess, wait_for
from projections.catalogue import decode_event
from tests.e2e.conftest import AuthHeaders

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

STATEMENTS = read_model("statements")
ACCOUNTS = read_model("accounts")
_deserialize = TypeDeserializer().deserialize
# Writes that succeed after the backfill is done, before the writer stops.
WRITES_AFTER_BACKFILL = 5


class Owner:
    """A registered person who owns this module's accounts."""

    def __init__(self, stack: LocalStackProcess, headers: dict[str, str], user_id: str) -> None:
        self.stack, self.headers, self.id = stack, headers, user_id

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{self.stack.api_url}{path}", json=body, headers=self.headers, timeout=30
        )

    def open_account(self) -> str:
        response = self.post("/accounts", {"currency": "EUR"})
        assert response.status_code == 201, response.text
        account_id = str(response.json()["id"])
        assert self.post(f"/accounts/{account_id}/deposits", {"amount": "50.00"}).ok
        return account_id


@pytest.fixture(scope="module")
def owner(local_stack: LocalStackProcess, auth_headers: AuthHeaders) -> Owner:
    """GIVEN a registered person (a loyalty member): they own this module's accounts."""
    email = f"read-models-{uuid.uuid4().hex[:8]}@example.com"
    headers = auth_headers(email)
    body: dict[str, Any] = {
        "name": "Rae",
        "email": email,
        "lastname": "Models",
        "address": "2 Fold Street",
        "loyalty": True,
    }
    response = requests.post(f"{local_stack.api_url}/users", json=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    return Owner(local_stack, headers, str(response.json()["id"]))


@pytest.fixture
def fault_switch(local_stack: LocalStackProcess) -> Iterator[Path]:
    """The stack's fault switch file; always switched off after the test."""
    path = local_stack.log_path.parent / "faults.json"
    yield path
    path.unlink(missing_ok=True)


def _item(stack: LocalStackProcess, pk: str) -> dict[str, Any] | None:
    found = (
        stack.client("dynamodb")
        .get_item(TableName=stack.name("read-models"), Key={"pk": {"S": pk}}, ConsistentRead=True)
        .get("Item")
    )
    return None if found is None else {k: _deserialize(v) for k, v in found.items()}


def _ledger(stack: LocalStackProcess, aggregate_id: str) -> list[str]:
    client = stack.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": stack.name("ledger"),
        "KeyConditionExpression": "aggregate_id = :a",
        "ExpressionAttributeValues": {":a": {"S": aggregate_id}},
        "ConsistentRead": True,
    }
    events: list[str] = []
    while True:
        page = client.query(**kwargs)
        events += [item["event"]["S"] for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return events
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _fold_ledger(stack: LocalStackProcess, account_id: str) -> tuple[Any, int]:
    """The statements state folded from scratch from the ledger, and the last version."""
    state = None
    events = _ledger(stack, account_id)
    for raw in events:
        state = STATEMENTS.fold.evolve(state, decode_event(raw))
    return state, len(events)


def _caught_up(stack: LocalStackProcess, model: Any, key: str, version: int) -> dict[str, Any]:
    item = _item(stack, model.pk(key))
    return item if item and int(item["positions"].get(key, 0)) >= version else {}


class Writer(threading.Thread):
    """Deposits and withdrawals on the accounts, continuously, until stopped."""

    def __init__(self, owner: Owner, accounts: list[str]) -> None:
        super().__init__(daemon=True)
        self.owner, self.accounts = owner, accounts
        self.stop = threading.Event()
        self.deposited = dict.fromkeys(accounts, 0)
        self.withdrawn = dict.fromkeys(accounts, 0)
        self.stored = 0  # the writes that succeeded
        self.errors: list[str] = []

    def run(self) -> None:
        rng = random.Random(21)
        while not self.stop.is_set():
            account_id = rng.choice(self.accounts)
            withdraw = rng.random() < 0.4
            cents = rng.randrange(1, 500)
            kind = "withdrawals" if withdraw else "deposits"
            amount = f"{cents // 100}.{cents % 100:02d}"
            response = self.owner.post(f"/accounts/{account_id}/{kind}", {"amount": amount})
            if response.status_code == 201:
                totals = self.withdrawn if withdraw else self.deposited
                totals[account_id] += cents
                self.stored += 1
            elif response.status_code != 409:  # insufficient funds is a valid answer
                self.errors.append(response.text)


def test_backfill_under_continuous_writes_equals_a_fold_of_the_ledger(
    local_stack: LocalStackProcess, owner: Owner
) -> None:
    # GIVEN accounts with history, and writes going on all along
    accounts = [owner.open_account() for _ in range(4)]
    writer = Writer(owner, accounts)
    writer.start()
    try:
        wait_for(lambda: sum(writer.deposited.values()) > 0, timeout=60)
        # AND the statements read model "did not exist": its items are gone (the live
        # projector goes on meanwhile, meeting accounts mid-history)
        client = local_stack.client("dynamodb")
        for account_id in accounts:
            client.delete_item(
                TableName=local_stack.name("read-models"),
                Key={"pk": {"S": STATEMENTS.pk(account_id)}},
            )
        # WHEN the documented backfill runs (archive + ledger) while writes go on
        done = local_stack.run_script(
            "replay.py", "--projection", "statements", "--source", "all", timeout=300
        )
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        # AND writes after the backfill: the live consumer's alone
        after = writer.stored
        wait_for(lambda: writer.stored >= after + WRITES_AFTER_BACKFILL, timeout=60)
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert not writer.errors, writer.errors[:3]
    assert summary["projection"] == "statements" and summary["unresolved_gaps"] == 0
    # THEN once the live consumer has caught up, each item is the fold of the ledger
    for account_id in accounts:
        expected, version = _fold_ledger(local_stack, account_id)
        item = wait_for(
            lambda a=account_id, v=version: _caught_up(local_stack, STATEMENTS, a, v),  # type: ignore[misc]
            timeout=90,
        )
        assert item["positions"] == {account_id: version}
        assert STATEMENTS.fold.from_item(item) == expected
        # AND nothing was lost or applied twice: the totals are the writes that succeeded
        months = [*expected.closed, expected.current]
        assert sum(m.deposits_cents for m in months) == 5000 + writer.deposited[account_id]
        assert sum(m.withdrawals_cents for m in months) == writer.withdrawn[account_id]


def test_a_failing_statements_consumer_leaves_accounts_and_loyalty_current(
    local_stack: LocalStackProcess, owner: Owner, fault_switch: Path
) -> None:
    # GIVEN an account whose statements are current
    account_id = owner.open_account()
    wait_for(lambda: _caught_up(local_stack, STATEMENTS, account_id, 2), timeout=60)
    # AND the statements read model failing (the failure drill's fault switch)
    fault_switch.write_text(json.dumps({"projector:statements": "statements down (drill)"}))
    # WHEN money moves and the owner buys something
    assert owner.post(f"/accounts/{account_id}/deposits", {"amount": "7.00"}).ok
    order = {"order_id": f"o-{uuid.uuid4().hex[:8]}", "amount": "30.00", "currency": "EUR"}
    purchase = owner.post(f"/users/{owner.id}/purchases", order)
    assert purchase.status_code == 201, purchase.text
    # THEN accounts and loyalty are current
    account = wait_for(lambda: _caught_up(local_stack, ACCOUNTS, account_id, 3), timeout=60)
    assert account["balance"] == "57.00"

    def purchase_projected() -> dict[str, Any]:
        # The purchase's position is an item of its own; the user's item counts it.
        item = _item(local_stack, f"loyalty#{owner.id}") or {}
        return item if int(item.get("purchases", 0)) >= 1 else {}

    assert int(wait_for(purchase_projected, timeout=60)["version"]) >= 2
    # AND statements alone is behind
    behind = _item(local_stack, STATEMENTS.pk(account_id))
    assert behind is not None and int(behind["positions"][account_id]) == 2
    # WHEN the switch is off and the account moves again
    fault_switch.unlink()
    assert owner.post(f"/accounts/{account_id}/deposits", {"amount": "1.00"}).ok
    # THEN statements fills the missed event from the ledger: the fold of the ledger
    item = wait_for(lambda: _caught_up(local_stack, STATEMENTS, account_id, 4), timeout=60)
    expected, version = _fold_ledger(local_stack, account_id)
    assert version == 4 and STATEMENTS.fold.from_item(item) == expected
