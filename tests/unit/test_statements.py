"""The monthly statements fold: totals per UTC month, and agreement with the account fold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections import accounts, statements
from projections.catalogue import AccountDeposited, AccountWithdrawn, Event, decode_event
from projections.errors import NegativeBalance, ProjectionError
from projections.replay import replay

ACC = "acc-1"
READ_MODEL = statements.read_model()


def event(kind: str, version: int, time: datetime, amount: str | None = None) -> bytes:
    data: dict[str, str] = {"account_id": ACC}
    if kind == "opened":
        data |= {"owner_id": "ada", "currency": "EUR"}
    else:
        data["amount"] = amount or "0.00"
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{ACC}-{version}",
            "source": "/accounts",
            "type": f"com.example.account.{kind}",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "subject": ACC,
            "datacontenttype": "application/json",
            "aggregateversion": version,
            "data": data,
        }
    )


def fold(lines: list[bytes]) -> statements.Statements | None:
    state = None
    for line in lines:
        state = statements.evolve(state, decode_event(line))
    return state


def history() -> list[bytes]:
    """Opened in January, active in January and March, nothing in February."""
    return [
        event("opened", 1, datetime(2026, 1, 10, tzinfo=UTC)),
        event("deposited", 2, datetime(2026, 1, 11, tzinfo=UTC), "100.00"),
        event("withdrawn", 3, datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC), "30.50"),
        event("deposited", 4, datetime(2026, 3, 1, tzinfo=UTC), "5.25"),
        event("withdrawn", 5, datetime(2026, 3, 2, tzinfo=UTC), "1.00"),
    ]


def test_a_month_totals_its_deposits_and_withdrawals() -> None:
    # GIVEN an account's history WHEN folded
    state = fold(history())
    assert state is not None
    # THEN January sums its events, from a zero opening balance
    assert statements.statement(state, "2026-01") == {
        "account_id": ACC,
        "month": "2026-01",
        "currency": "EUR",
        "opening_balance": "0.00",
        "deposits": "100.00",
        "withdrawals": "30.50",
        "closing_balance": "69.50",
    }
    # AND March opens with January's closing balance
    march = statements.statement(state, "2026-03")
    assert march is not None
    assert (march["opening_balance"], march["deposits"], march["withdrawals"]) == (
        "69.50",
        "5.25",
        "1.00",
    )
    assert march["closing_balance"] == "73.75"


@pytest.mark.parametrize("month", ["2026-02", "2026-04", "2031-12"])
def test_a_month_without_events_after_the_opening_has_zero_totals(month: str) -> None:
    state = fold(history())
    assert state is not None
    found = statements.statement(state, month)
    assert found is not None
    assert (found["deposits"], found["withdrawals"]) == ("0.00", "0.00")
    assert found["opening_balance"] == found["closing_balance"]
    assert found["closing_balance"] == ("69.50" if month == "2026-02" else "73.75")


@pytest.mark.parametrize("month", ["2025-12", "2025-01", "0001-01"])
def test_a_month_before_the_opening_has_no_statement(month: str) -> None:
    state = fold(history())
    assert state is not None
    assert statements.statement(state, month) is None


@pytest.mark.parametrize(
    ("month", "valid"),
    [
        ("2026-01", True),
        ("2026-12", True),
        ("9999-12", True),
        ("2026-13", False),
        ("2026-00", False),
        ("0000-01", False),
        ("2026-1", False),
        ("26-01", False),
        ("2026-01-01", False),
        ("2026/01", False),
        ("\uff12\uff10\uff12\uff16-01", False),  # fullwidth digits
        ("", False),
        ("2026-01\n", False),
        (" 2026-01", False),
    ],
)
def test_the_month_pattern(month: str, valid: bool) -> None:
    assert bool(statements.MONTH_PATTERN.match(month)) is valid


def test_the_fold_refuses_what_the_account_fold_refuses() -> None:
    opened, deposited = history()[:2]
    with pytest.raises(ProjectionError):
        fold([opened, opened])
    with pytest.raises(ProjectionError):
        fold([deposited])
    with pytest.raises(NegativeBalance):
        fold([opened, event("withdrawn", 2, datetime(2026, 1, 12, tzinfo=UTC), "0.01")])


def test_the_item_round_trips() -> None:
    state = fold(history())
    assert state is not None
    assert READ_MODEL.from_item(READ_MODEL.to_item(state)) == state


@st.composite
def account_histories(draw: st.DrawFn) -> list[bytes]:
    """One account: opened, then deposits and withdrawals at increasing times over months."""
    time = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 86_400 * 60)))
    lines = [event("opened", 1, time)]
    balance = 0
    for gap, cents in draw(
        st.lists(st.tuples(st.integers(0, 86_400 * 70), st.integers(-20_000, 20_000)), max_size=25)
    ):
        time += timedelta(seconds=gap)
        amount = abs(cents) or 1
        kind = "withdrawn" if cents < 0 and amount <= balance else "deposited"
        balance += -amount if kind == "withdrawn" else amount
        lines.append(event(kind, len(lines) + 1, time, f"{amount // 100}.{amount % 100:02d}"))
    return lines


def _month_end(month: str) -> datetime:
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start - timedelta(microseconds=1)


def _months(first: str, last: str) -> list[str]:
    months, year, number = [], int(first[:4]), int(first[5:])
    while f"{year:04d}-{number:02d}" <= last:
        months.append(f"{year:04d}-{number:02d}")
        year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return months


@settings(max_examples=60, deadline=None)
@given(account_histories())
def test_balances_agree_with_the_account_at_each_months_end(lines: list[bytes]) -> None:
    # GIVEN any valid history WHEN folded into statements
    state = fold(lines)
    assert state is not None
    events: list[Event] = [decode_event(line) for line in lines]
    first, last = events[0].time[:7], events[-1].time[:7]
    for month in _months(first, last):
        found = statements.statement(state, month)
        assert found is not None
        # THEN each closing balance is the account's balance as of the month's end
        closing = accounts.account_at(lines, ACC, _month_end(month))
        assert closing is not None and found["closing_balance"] == closing.to_dict()["balance"]
        # AND its totals are the sums of that month's events
        of_month = [e for e in events if e.time[:7] == month]
        for kind, total in (("deposited", "deposits"), ("withdrawn", "withdrawals")):
            cents = sum(
                int(str(e.data.amount).replace(".", ""))
                for e in of_month
                if isinstance(e.data, (AccountDeposited, AccountWithdrawn)) and kind in e.type
            )
            assert found[total] == f"{cents // 100}.{cents % 100:02d}"


@settings(max_examples=30, deadline=None)
@given(account_histories(), st.randoms(use_true_random=False))
def test_replay_in_any_arrival_order_equals_the_fold(lines: list[bytes], rng: object) -> None:
    # GIVEN the history delivered shuffled and partly twice (archive order, at least once)
    delivered = lines + lines[: len(lines) // 2]
    rng.shuffle(delivered)  # type: ignore[attr-defined]
    # WHEN replayed THEN the state is the in-order fold
    result = replay([b"\n".join(delivered)], READ_MODEL.projection)
    assert result.states == {ACC: fold(lines)}
    assert result.positions == {ACC: {ACC: len(lines)}}
