"""The account and loyalty folds, and the replay engine, through their public functions."""

from __future__ import annotations

import orjson
import pytest

from projections import accounts, loyalty
from projections.catalogue import decode_cloud_event, decode_event
from projections.cents import format_cents, to_cents
from projections.errors import InvalidLine, NegativeBalance, ProjectionError
from projections.replay import replay


def ev(kind: str, subject: str, version: int, data: dict, time: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{subject}-{version}",
            "source": "/test",
            "type": f"com.example.{kind}",
            "time": time or f"2026-01-01T00:00:{version:02d}.000000Z",
            "subject": subject,
            "datacontenttype": "application/json",
            "aggregateversion": version,
            "data": data,
        }
    )


def opened(acc: str, v: int = 1) -> bytes:
    return ev("account.opened", acc, v, {"account_id": acc, "owner_id": "u1", "currency": "EUR"})


def moved(kind: str, acc: str, v: int, amount: str) -> bytes:
    return ev(f"account.{kind}", acc, v, {"account_id": acc, "amount": amount})


def user(uid: str, time: str, *, enrolled: bool = True) -> bytes:
    data = {
        "user_id": uid,
        "name": "A",
        "lastname": "B",
        "email": f"{uid}@example.com",
        "address": "x",
        "loyalty": enrolled,
        "consents": {"marketing": False},
    }
    return ev("user.created", uid, 1, data, time)


def purchase(uid: str, v: int, amount: str, time: str | None = None) -> bytes:
    data = {"user_id": uid, "order_id": f"o{v}", "amount": amount, "currency": "EUR"}
    return ev("purchase.made", f"purchases-{uid}", v, data, time)


def test_account_fold_tracks_balance_and_version() -> None:
    # GIVEN an opened account with a deposit and a withdrawal
    events = [opened("a"), moved("deposited", "a", 2, "12.50"), moved("withdrawn", "a", 3, "2.25")]
    # WHEN folded
    state = accounts.fold(decode_event(e) for e in events)
    # THEN the read model shows the balance as money and the last version
    assert state is not None
    assert state.to_dict() == {
        "id": "a",
        "owner_id": "u1",
        "currency": "EUR",
        "balance": "10.25",
        "version": 3,
    }


def test_account_fold_refuses_to_go_negative() -> None:
    # GIVEN a withdrawal past the balance (cannot be in a valid stream)
    events = [opened("a"), moved("deposited", "a", 2, "1.00"), moved("withdrawn", "a", 3, "1.01")]
    # WHEN folded THEN it raises instead of going negative
    with pytest.raises(NegativeBalance):
        accounts.fold(decode_event(e) for e in events)
    # AND the replay engine's fast path agrees
    with pytest.raises(NegativeBalance):
        replay(events, accounts.ACCOUNTS)


def test_the_replay_reducer_folds_whole_cloudevents_as_it_folds_decoded_records() -> None:
    # GIVEN an account's events as the replay decodes them, and as whole CloudEvents
    events = [opened("a"), moved("deposited", "a", 2, "12.50"), moved("withdrawn", "a", 3, "2.25")]
    records = [decode_event(e) for e in events]
    whole = [decode_cloud_event(e) for e in events]
    assert {type(r) for r in records}.isdisjoint({type(w) for w in whole})
    # WHEN the reducer applies each list to a row of its own
    rows: dict[str, list[object]] = {}
    for name, stream in (("records", records), ("whole", whole)):
        row = rows[name] = [0]
        for event in stream:
            row[0] = event.aggregateversion
            accounts.AccountsReducer.apply(row, event)
    # THEN both give the same row: the class test is a fast path, not a filter
    assert rows["records"] == rows["whole"] == [3, "u1", "EUR", 1025]
    # AND an overdraft is refused on either path
    overdraft = moved("withdrawn", "a", 4, "10.26")
    for event in (decode_event(overdraft), decode_cloud_event(overdraft)):
        row = [4, *rows["records"][1:]]
        with pytest.raises(NegativeBalance):
            accounts.AccountsReducer.apply(row, event)


def test_deposit_before_opening_is_rejected() -> None:
    with pytest.raises(ProjectionError):
        accounts.fold([decode_event(moved("deposited", "a", 1, "1.00"))])


@pytest.mark.parametrize(
    ("text", "cents"), [("12.50", 1250), ("0.05", 5), ("7", 700), ("1.5", 150), ("3.10", 310)]
)
def test_money_to_cents_and_back(text: str, cents: int) -> None:
    assert to_cents(text) == cents
    assert to_cents(format_cents(cents)) == cents


def test_money_with_more_than_two_decimals_is_rejected() -> None:
    with pytest.raises(ProjectionError):
        to_cents("1.001")


def test_replay_orders_per_aggregate_and_skips_duplicates() -> None:
    # GIVEN an archive with a version arriving early and a line delivered twice
    chunk = (
        b"\n".join(
            [
                opened("a"),
                moved("deposited", "a", 3, "5.00"),
                moved("deposited", "a", 2, "1.00"),
                moved("deposited", "a", 2, "1.00"),
                b"",
                opened("b"),
            ]
        )
        + b"\n"
    )
    # WHEN replayed
    result = replay([chunk], accounts.ACCOUNTS)
    # THEN every event is applied once, in order
    assert result.states["a"].balance_cents == 600
    assert result.states["a"].version == 3
    assert result.stats.events_read == 5
    assert result.stats.duplicates_skipped == 1
    assert result.stats.aggregates == 2
    assert result.positions["a"] == {"a": 3}


def test_replay_reports_events_left_waiting_on_a_gap() -> None:
    result = replay([opened("a"), moved("deposited", "a", 3, "5.00")], accounts.ACCOUNTS)
    assert result.states["a"].version == 1
    assert result.stats.unresolved_gaps == 1
    assert result.stats.gap_aggregates == ["a"]


def test_replay_until_keeps_only_earlier_events() -> None:
    events = [opened("a"), moved("deposited", "a", 2, "5.00"), moved("deposited", "a", 3, "7.00")]
    result = replay(events, accounts.ACCOUNTS, until="2026-01-01T00:00:02Z")
    assert result.states["a"].balance_cents == 500
    assert result.stats.after_until == 1


def test_replay_rejects_a_bad_line_or_counts_it() -> None:
    chunk = opened("a") + b"\nnot json\n" + moved("deposited", "a", 2, "1.00")
    with pytest.raises(InvalidLine):
        replay([chunk], accounts.ACCOUNTS)
    result = replay([chunk], accounts.ACCOUNTS, strict=False)
    assert result.stats.invalid_lines == 1
    assert result.states["a"].balance_cents == 100


def test_account_at_folds_the_ledger_up_to_a_time() -> None:
    events = [opened("a"), moved("deposited", "a", 2, "5.00"), moved("withdrawn", "a", 3, "1.00")]
    at = accounts.account_at(events, "a", "2026-01-01T00:00:02.500000Z")
    assert at is not None
    assert at.to_dict()["balance"] == "5.00"
    assert at.version == 2


def test_loyalty_points_tiers_and_retroactive_early_adopter_bonus() -> None:
    # GIVEN three users (the second registered first) and purchases from before any program
    policy = loyalty.LoyaltyPolicy(early_adopter_count=2, early_adopter_bonus=500)
    later = "2026-01-04T00:00:00.000000Z"
    events = [
        user("u1", "2026-01-02T00:00:00.000000Z"),
        user("u2", "2026-01-01T00:00:00.000000Z", enrolled=False),
        user("u3", "2026-01-03T00:00:00.000000Z"),
        purchase("u3", 1, "1999.99", later),
        purchase("u3", 2, "0.99", later),
        purchase("u1", 1, "10.50", later),
    ]
    # WHEN the loyalty projection is rebuilt from the whole history
    states = replay(events, loyalty.LoyaltyProjection(policy)).states
    # THEN points are whole units per purchase, and the first two registered get the bonus
    assert states["u1"].to_dict(policy) == {
        "user_id": "u1",
        "enrolled": True,
        "points": 510,
        "tier": "silver",
    }
    assert states["u2"].to_dict(policy) == {
        "user_id": "u2",
        "enrolled": False,
        "points": 500,
        "tier": "silver",
    }
    assert states["u3"].to_dict(policy) == {
        "user_id": "u3",
        "enrolled": True,
        "points": 1999,
        "tier": "silver",
    }


@pytest.mark.parametrize(
    ("points", "tier"),
    [(0, "bronze"), (499, "bronze"), (500, "silver"), (1999, "silver"), (2000, "gold")],
)
def test_tiers(points: int, tier: str) -> None:
    assert loyalty.DEFAULT_POLICY.tier(points) == tier
