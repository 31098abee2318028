"""Account commands: the aggregate's pure decide, and the service on in-memory fakes."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.adapters.idempotency import IdempotencyKey, Outcome
from chalicelib.domain.account_aggregate import Deposit, Open, Withdraw, apply, decide
from chalicelib.domain.events import AccountOpened, AccountWithdrawn, new_event
from chalicelib.domain.exceptions import Conflict, NotFound
from chalicelib.service.accounts import SNAPSHOT_EVERY, Transfer
from chalicelib.service.users import RegisterUser
from projections.accounts import Account, fold
from projections.catalogue import decode_event
from tests.fakes import Services, services

ACCOUNT = Account("acc", "ada", "EUR", balance_cents=1000, version=2)


def _transfer(amount: str) -> Transfer:
    return Transfer(amount=Decimal(amount))


def _with_owner(world: Services, owner: str = "ada") -> Services:
    request = RegisterUser(name="Ada", lastname="Lovelace", address="12 St James's Square")
    world.users.register(owner, request, f"{owner}@example.com", scope="POST /users")
    return world


def _open(world: Services, owner: str = "ada") -> str:
    response = world.accounts.open(owner, "EUR", scope="POST /accounts", idempotency_key=None)
    return str(response.body["id"])


# The aggregate: pure.


def test_opening_decides_account_opened_and_only_once() -> None:
    # GIVEN no account / an open one
    command = Open("acc", "ada", "EUR")
    # WHEN opening is decided
    (event,) = decide(None, command)
    # THEN it opens it; opening an open account is a conflict
    assert event == AccountOpened(account_id="acc", owner_id="ada", currency="EUR")
    with pytest.raises(Conflict):
        decide(ACCOUNT, command)


def test_a_withdrawal_past_the_balance_is_insufficient_funds() -> None:
    # GIVEN an account holding 10.00
    # WHEN 10.01 is withdrawn
    with pytest.raises(Conflict) as raised:
        decide(ACCOUNT, Withdraw("acc", Decimal("10.01")))
    # THEN it is insufficient_funds naming the amount field; all of it may be withdrawn
    assert raised.value.code == "insufficient_funds"
    assert raised.value.details == [{"field": "amount", "message": "exceeds the balance"}]
    assert decide(ACCOUNT, Withdraw("acc", Decimal("10.00"))) == [
        AccountWithdrawn(account_id="acc", amount=Decimal("10.00"))
    ]


def test_moving_money_on_an_unopened_account_is_not_found() -> None:
    for command in (Deposit("nope", Decimal(1)), Withdraw("nope", Decimal(1))):
        with pytest.raises(NotFound):
            decide(None, command)


@given(
    balance=st.integers(min_value=0, max_value=10**9),
    amount=st.integers(min_value=1, max_value=10**9),
)
def test_decide_and_the_fold_agree_on_the_overdraft_rule(balance: int, amount: int) -> None:
    # GIVEN any account and any withdrawal
    account = Account("acc", "ada", "EUR", balance_cents=balance, version=3)
    command = Withdraw("acc", Decimal(amount) / 100)
    # WHEN decide accepts it or refuses it
    try:
        (data,) = decide(account, command)
    except Conflict:
        accepted = False
    else:
        accepted = True
        # THEN what it accepted, the projector's fold of its envelope accepts too, alike
        envelope = decode_event(new_event(data, subject="acc", version=4).to_json())
        assert fold([envelope], account) == apply(account, data, 4)
    assert accepted == (amount <= balance)


# The service, on fakes.


def test_open_deposit_withdraw_commits_events_and_answers_the_new_state() -> None:
    # GIVEN a registered owner
    world = _with_owner(services())
    # WHEN they open an account, deposit 12.50 and withdraw 2.25
    account_id = _open(world)
    world.accounts.deposit(account_id, _transfer("12.50"), scope="d", idempotency_key=None)
    withdrawn = world.accounts.withdraw(
        account_id, _transfer("2.25"), scope="w", idempotency_key=None
    )
    # THEN the ledger holds the three events at versions 1..3, stamped by the clock
    events = world.ledger.events(account_id)
    assert [(e["type"], e["aggregateversion"]) for e in events] == [
        ("com.example.account.opened", 1),
        ("com.example.account.deposited", 2),
        ("com.example.account.withdrawn", 3),
    ]
    assert {e["time"] for e in events} == {"2026-05-01T09:00:00.000000Z"}
    # AND the response is the state after the withdrawal
    assert withdrawn.outcome is Outcome.CREATED
    assert withdrawn.body == {"event_id": events[2]["id"], "version": 3, "balance": "10.25"}
    assert world.accounts.current(account_id).to_dict()["balance"] == "10.25"


def test_an_overdraft_appends_nothing() -> None:
    # GIVEN an account holding 5.00
    world = _with_owner(services())
    account_id = _open(world)
    world.accounts.deposit(account_id, _transfer("5"), scope="d", idempotency_key=None)
    # WHEN 5.01 is withdrawn
    with pytest.raises(Conflict) as raised:
        world.accounts.withdraw(account_id, _transfer("5.01"), scope="w", idempotency_key=None)
    # THEN it is insufficient funds, and the ledger is unchanged
    assert raised.value.code == "insufficient_funds"
    assert len(world.ledger.events(account_id)) == 2


def test_an_unknown_or_erased_owner_gets_no_account_and_no_more_commands() -> None:
    # GIVEN an owner with an account, who is then erased
    world = _with_owner(services())
    account_id = _open(world)
    world.users.erase("ada", scope="POST /gdpr/erasure/ada")
    # WHEN a deposit reaches the account, or anyone opens an account for them or a stranger
    # THEN each is NotFound and appends nothing
    with pytest.raises(NotFound):
        world.accounts.deposit(account_id, _transfer("1"), scope="d", idempotency_key=None)
    for owner in ("ada", "nobody"):
        with pytest.raises(NotFound):
            world.accounts.open(owner, "EUR", scope="POST /accounts", idempotency_key=None)
    assert len(world.ledger.events(account_id)) == 1
    # AND the balance stays readable
    assert world.accounts.current(account_id).balance_cents == 0


def test_the_route_scope_keeps_keys_of_two_accounts_apart() -> None:
    # GIVEN two accounts and one Idempotency-Key
    world = _with_owner(services())
    first, second = _open(world), _open(world)
    key = IdempotencyKey(caller="ada", key="k", fingerprint="f")
    # WHEN the key is used for a deposit to each, with each route's scope
    for account_id in (first, second, first):
        world.accounts.deposit(
            account_id,
            _transfer("1"),
            scope=f"POST /accounts/{account_id}/deposits",
            idempotency_key=key,
        )
    # THEN each account got one deposit; the repeat on the first appended nothing
    assert [len(world.ledger.events(a)) for a in (first, second)] == [2, 2]


def test_a_snapshot_is_kept_every_snapshot_every_versions() -> None:
    # GIVEN an account
    world = _with_owner(services())
    account_id = _open(world)
    # WHEN it reaches version SNAPSHOT_EVERY
    for _ in range(SNAPSHOT_EVERY - 1):
        world.accounts.deposit(account_id, _transfer("1"), scope="d", idempotency_key=None)
    # THEN its snapshot holds that state, and commands continue from it
    snapshot = world.snapshots.load(account_id)
    assert snapshot is not None
    assert (snapshot.version, snapshot.balance_cents) == (
        SNAPSHOT_EVERY,
        (SNAPSHOT_EVERY - 1) * 100,
    )
    after = world.accounts.withdraw(account_id, _transfer("1"), scope="w", idempotency_key=None)
    assert after.body["version"] == SNAPSHOT_EVERY + 1


def test_concurrent_withdrawals_never_overdraw_and_versions_stay_contiguous() -> None:
    # GIVEN an account holding 10.00, and ten writers that each load it before any commits
    world = _with_owner(services())
    account_id = _open(world)
    world.accounts.deposit(account_id, _transfer("10"), scope="d", idempotency_key=None)
    writers = 10
    all_loaded = threading.Barrier(writers)
    first_commit = threading.local()

    def hold_first_commits() -> None:
        if not getattr(first_commit, "done", False):
            first_commit.done = True
            all_loaded.wait(timeout=10)

    world.uow.every_commit = hold_first_commits
    accepted: list[bool] = []

    def withdraw() -> None:
        try:
            world.accounts.withdraw(account_id, _transfer("2"), scope="w", idempotency_key=None)
        except Conflict as exc:
            assert exc.code == "insufficient_funds"
            accepted.append(False)
        else:
            accepted.append(True)

    # WHEN each withdraws 2.00 at once
    threads = [threading.Thread(target=withdraw) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # THEN they conflicted (all decided on one version) and were decided again:
    # exactly five were accepted, the balance is zero and versions have no gap
    assert world.uow.conflicts >= writers - 1
    assert (len(accepted), accepted.count(True)) == (writers, 5)
    events = world.ledger.events(account_id)
    assert [e["aggregateversion"] for e in events] == list(range(1, 8))
    assert world.accounts.current(account_id).balance_cents == 0


def test_deposits_data_is_what_the_command_asked() -> None:
    # GIVEN an account
    world = _with_owner(services())
    account_id = _open(world)
    # WHEN 0.10 is deposited
    world.accounts.deposit(account_id, _transfer("0.10"), scope="d", idempotency_key=None)
    # THEN the event's data carries the account and the amount with two decimals
    event = world.ledger.events(account_id)[-1]
    assert event["data"] == {"account_id": account_id, "amount": "0.10"}
