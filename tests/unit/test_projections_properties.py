"""Property tests: the replay engine agrees with the pure in-order folds."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from projections import accounts, loyalty
from projections.catalogue import decode_event
from projections.replay import Filtered, merge_parts, replay, replay_part


@st.composite
def account_streams(draw: st.DrawFn) -> dict[str, list[bytes]]:
    """Valid per-account event streams (withdrawals never exceed the balance)."""
    streams: dict[str, list[bytes]] = {}
    for n in range(draw(st.integers(1, 4))):
        acc = f"acc-{n}"
        lines = [
            _event(
                "account.opened", acc, 1, {"account_id": acc, "owner_id": "o", "currency": "EUR"}
            )
        ]
        balance = 0
        for cents in draw(st.lists(st.integers(-50_000, 50_000), max_size=12)):
            version = len(lines) + 1
            if cents >= 0 or -cents > balance:
                amount, kind = abs(cents) or 1, "account.deposited"
                balance += amount
            else:
                amount, kind = -cents, "account.withdrawn"
                balance -= amount
            money = f"{amount // 100}.{amount % 100:02d}"
            lines.append(_event(kind, acc, version, {"account_id": acc, "amount": money}))
        streams[acc] = lines
    return streams


def _event(kind: str, subject: str, version: int, data: dict) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{subject}-{version}",
            "source": "/t",
            "type": f"com.example.{kind}",
            "time": f"2026-01-01T00:{version // 60:02d}:{version % 60:02d}.000000Z",
            "subject": subject,
            "datacontenttype": "application/json",
            "aggregateversion": version,
            "data": data,
        }
    )


@st.composite
def deliveries(draw: st.DrawFn, streams: dict[str, list[bytes]]) -> list[bytes]:
    """An interleaving of the streams, each in order, with some events delivered again."""
    cursors = {key: 0 for key, lines in streams.items() if lines}
    out: list[bytes] = []
    while cursors:
        key = draw(st.sampled_from(sorted(cursors)))
        out.append(streams[key][cursors[key]])
        if draw(st.booleans()) and draw(st.booleans()):
            out.append(draw(st.sampled_from(out)))  # an at-least-once repeat
        cursors[key] += 1
        if cursors[key] == len(streams[key]):
            del cursors[key]
    return out


def _in_order(streams: dict[str, list[bytes]]) -> dict[str, accounts.Account | None]:
    return {
        key: accounts.fold(decode_event(line) for line in lines) for key, lines in streams.items()
    }


def _chunks(lines: list[bytes], sizes: Iterable[int]) -> list[bytes]:
    chunks, start = [], 0
    for size in sizes:
        chunks.append(b"\n".join(lines[start : start + size]))
        start += size
    chunks.append(b"\n".join(lines[start:]))
    return chunks


@settings(max_examples=150, deadline=None)
@given(data=st.data(), streams=account_streams())
def test_any_interleaving_with_duplicates_equals_in_order_fold(
    data: st.DataObject, streams: dict[str, list[bytes]]
) -> None:
    # GIVEN the events delivered interleaved, repeated, and split into archive objects
    lines = data.draw(deliveries(streams))
    sizes = data.draw(st.lists(st.integers(1, 5), max_size=5))
    # WHEN replayed
    result = replay(_chunks(lines, sizes), accounts.ACCOUNTS)
    # THEN the states equal the pure in-order fold of each stream
    assert result.states == _in_order(streams)
    assert result.stats.events_read == len(lines)
    assert result.stats.duplicates_skipped == len(lines) - sum(map(len, streams.values()))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), streams=account_streams())
def test_out_of_order_delivery_is_reordered_per_aggregate(
    data: st.DataObject, streams: dict[str, list[bytes]]
) -> None:
    # GIVEN every event, in any order at all (e.g. archive objects read out of order)
    lines = data.draw(st.permutations([line for s in streams.values() for line in s]))
    # WHEN replayed THEN nothing is left waiting and the result is the in-order fold
    result = replay(lines, accounts.ACCOUNTS)
    assert result.stats.unresolved_gaps == 0
    assert result.states == _in_order(streams)


@settings(max_examples=100, deadline=None)
@given(streams=account_streams())
def test_balance_is_never_negative(streams: dict[str, list[bytes]]) -> None:
    for lines in streams.values():
        state = None
        for line in lines:
            state = accounts.evolve(state, decode_event(line))
            assert state is not None and state.balance_cents >= 0


@settings(max_examples=100, deadline=None)
@given(data=st.data(), streams=account_streams())
def test_until_equals_folding_the_prefix(
    data: st.DataObject, streams: dict[str, list[bytes]]
) -> None:
    # GIVEN a point in time (events are one second apart per version)
    cut = data.draw(st.integers(0, 14))
    until = f"2026-01-01T00:00:{cut:02d}.000000Z"
    lines = data.draw(deliveries(streams))
    # WHEN replayed as of that time
    result = replay(lines, accounts.ACCOUNTS, until=until)
    # THEN each account equals the fold of its events up to that time
    expected = {
        key: accounts.fold(decode_event(line) for line in lines_[:cut])
        for key, lines_ in streams.items()
    }
    assert result.states == {k: v for k, v in expected.items() if v is not None}


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    registrations=st.lists(st.integers(0, 5), min_size=1, max_size=6),
    early=st.integers(0, 4),
)
def test_loyalty_replay_equals_per_user_fold_plus_bonus(
    data: st.DataObject, registrations: list[int], early: int
) -> None:
    # GIVEN users registering (some at the same second) and purchasing
    policy = loyalty.LoyaltyPolicy(early_adopter_count=early)
    streams: dict[str, list[bytes]] = {}
    for n, second in enumerate(registrations):
        uid = f"u{n}"
        streams[uid] = [
            _event(
                "user.created",
                uid,
                1,
                {
                    "user_id": uid,
                    "name": "a",
                    "lastname": "b",
                    "email": "a@example.com",
                    "address": "x",
                    "loyalty": n % 2 == 0,
                    "consents": {"marketing": False},
                },
            )
        ]
        streams[uid][0] = streams[uid][0].replace(
            b'"time":"2026-01-01T00:00:01.000000Z"',
            f'"time":"2026-01-01T00:00:{second:02d}.000000Z"'.encode(),
        )
        amounts = data.draw(st.lists(st.integers(1, 300_000), max_size=4))
        streams[f"p-{uid}"] = [
            _event(
                "purchase.made",
                f"p-{uid}",
                v,
                {
                    "user_id": uid,
                    "order_id": str(v),
                    "amount": f"{a // 100}.{a % 100:02d}",
                    "currency": "EUR",
                },
            )
            for v, a in enumerate(amounts, 1)
        ]
    lines = data.draw(deliveries(streams))
    # WHEN replayed
    states = replay(lines, loyalty.LoyaltyProjection(policy)).states
    # THEN it equals folding each user's events, then ranking registrations (time, id)
    folded: dict[str, loyalty.Loyalty] = {}
    for n in range(len(registrations)):
        uid = f"u{n}"
        events = [decode_event(x) for x in streams[uid] + streams[f"p-{uid}"]]
        state = loyalty.fold(events, policy=policy)
        assert state is not None
        folded[uid] = state
    ranked = sorted(range(len(registrations)), key=lambda n: (registrations[n], f"u{n}"))
    winners = {f"u{n}" for n in ranked[:early]}
    assert {uid for uid, s in states.items() if s.bonus_points} == winners
    assert states == loyalty.with_early_adopter_bonus(folded, policy)


def _minute(n: int) -> str:
    return f"2026-01-01T{n // 60:02d}:{n % 60:02d}:00.000000Z"


def _stamped(line: bytes, minute: int) -> bytes:
    event = orjson.loads(line)
    event["time"] = _minute(minute)
    return orjson.dumps(event)


@st.composite
def membership_histories(draw: st.DrawFn) -> tuple[dict[str, list[bytes]], int]:
    """One user (registration, joins, leaves, consent changes) and purchases around them.

    User event times never decrease along versions; purchases are their own
    aggregates, at any time (also equal to a user event's). Returns the streams
    and the points a purchase-by-purchase reading of the membership timeline gives.
    """
    member = draw(st.booleans())
    created = {
        "user_id": "u",
        "name": "a",
        "lastname": "b",
        "email": "a@example.com",
        "address": "x",
        "loyalty": member,
        "consents": {"marketing": False},
    }
    minute = draw(st.integers(0, 5))
    user = [_stamped(_event("user.created", "u", 1, created), minute)]
    timeline = [(minute, member)]
    marketing = False
    for version in range(2, draw(st.integers(1, 7)) + 1):
        minute += draw(st.integers(0, 10))
        if draw(st.booleans()):
            member = not member
            kind = "user.loyalty_joined" if member else "user.loyalty_left"
            line = _event(kind, "u", version, {"user_id": "u"})
            timeline.append((minute, member))
        else:
            marketing = not marketing
            data = {
                "user_id": "u",
                "marketing": marketing,
                "previous": {"marketing": not marketing},
            }
            line = _event("user.consents_changed", "u", version, data)
        user.append(_stamped(line, minute))
    streams = {"u": user}
    expected = 0
    for n, (at, units) in enumerate(
        draw(st.lists(st.tuples(st.integers(0, minute + 10), st.integers(1, 50)), max_size=8))
    ):
        data = {"user_id": "u", "order_id": str(n), "amount": f"{units}.00", "currency": "EUR"}
        streams[f"p{n}"] = [_stamped(_event("purchase.made", f"p{n}", 1, data), at)]
        in_force = [m for since, m in timeline if since <= at]
        expected += units if in_force and in_force[-1] else 0
    return streams, expected


@settings(max_examples=200, deadline=None)
@given(data=st.data(), history=membership_histories())
def test_points_count_only_purchases_made_while_a_member_in_any_arrival_order(
    data: st.DataObject, history: tuple[dict[str, list[bytes]], int]
) -> None:
    # GIVEN a user who joins and leaves over time, and purchases before, between and after
    streams, expected = history
    policy = loyalty.LoyaltyPolicy(early_adopter_count=0)
    # WHEN the events arrive in any interleaving (each aggregate in order, some repeated)
    lines = data.draw(deliveries(streams))
    replayed = replay(lines, loyalty.LoyaltyProjection(policy)).states["u"]
    # AND, separately, are folded one by one as the live projector would
    live = loyalty.fold((decode_event(line) for line in _unique(lines)), policy=policy)
    # THEN points are exactly the purchases made while a member, and both agree
    assert replayed.points == expected
    assert live == replayed
    # AND the state does not depend on the order: user events first gives the same
    in_order = [line for lines_ in streams.values() for line in lines_]
    assert loyalty.fold((decode_event(x) for x in in_order), policy=policy) == replayed


def _unique(lines: list[bytes]) -> list[bytes]:
    """The lines without repeats (the projector skips a version it already applied)."""
    seen: set[bytes] = set()
    return [x for x in lines if not (x in seen or seen.add(x))]  # type: ignore[func-returns-value]


def in_part(owner: dict[str, int], index: int) -> Callable[[str], bool]:
    """Whether an aggregate is dealt to part ``index``."""
    return lambda subject: owner[subject] == index


@settings(max_examples=200, deadline=None)
@given(data=st.data(), history=membership_histories())
def test_loyalty_folded_in_parts_of_any_aggregates_merges_into_one_replay(
    data: st.DataObject, history: tuple[dict[str, list[bytes]], int]
) -> None:
    # GIVEN a user's events and purchases delivered in any interleaving
    streams, _ = history
    projection = loyalty.LoyaltyProjection(loyalty.LoyaltyPolicy(early_adopter_count=1))
    lines = data.draw(deliveries(streams))
    # AND the aggregates dealt into 1 to 3 parts at random (the user's and its purchases apart)
    parts = data.draw(st.integers(1, 3))
    owner = {subject: data.draw(st.integers(0, parts - 1)) for subject in streams}
    # WHEN each part folds only its aggregates and the parts are merged
    folded = [
        replay_part(
            [Filtered(b"\n".join(lines), in_part(owner, i), count_invalid=i == 0)],
            projection,
        )
        for i in range(parts)
    ]
    merged = merge_parts(projection, folded)
    # THEN it is the one-process replay: states (bonus included), positions and counts
    whole = replay(lines, projection)
    assert merged.states == whole.states
    assert merged.positions == whole.positions
    assert merged.stats.duplicates_skipped == whole.stats.duplicates_skipped


@settings(max_examples=200, deadline=None)
@given(data=st.data(), history=membership_histories())
def test_settling_at_valid_watermarks_changes_no_points_and_no_final_state(
    data: st.DataObject, history: tuple[dict[str, list[bytes]], int]
) -> None:
    # GIVEN a user's events in any interleaving, each aggregate in order
    streams, expected = history
    policy = loyalty.LoyaltyPolicy(early_adopter_count=0)
    lines = _unique(data.draw(deliveries(streams)))
    # The time of the user's n-th event, and past the last one: no limit
    user_times = [decode_event(line).time for line in streams["u"]] + ["~"]
    # WHEN the live fold settles now and then at a watermark the ledger could vouch for:
    # no later than the first user event not folded yet
    state, folded_user_events, watermarks = None, 0, []
    for line in lines:
        event = decode_event(line)
        state = loyalty.evolve(state, event, policy)
        folded_user_events += event.subject == "u"
        if state is not None and data.draw(st.booleans()):
            watermark = _minute(data.draw(st.integers(0, 80)))
            if watermark <= user_times[folded_user_events]:
                state = loyalty.settle(state, watermark)
                watermarks.append(watermark)
    # THEN points are still exactly the purchases made while a member
    assert state is not None and state.points == expected
    # AND settled at a later watermark, it equals the fold that never settled, settled there
    final = max([_minute(90), *watermarks])
    plain = loyalty.fold((decode_event(line) for line in lines), policy=policy)
    assert plain is not None
    assert loyalty.settle(state, final) == loyalty.settle(plain, final)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), history=membership_histories())
def test_a_replay_settled_at_a_watermark_equals_the_fold_settled_there(
    data: st.DataObject, history: tuple[dict[str, list[bytes]], int]
) -> None:
    # GIVEN a user's events in any interleaving, and a watermark past every user event
    streams, expected = history
    policy = loyalty.LoyaltyPolicy(early_adopter_count=0)
    lines = data.draw(deliveries(streams))
    last_user_event = decode_event(streams["u"][-1]).time
    watermark = max(last_user_event, _minute(data.draw(st.integers(0, 90))))
    # WHEN replayed with that watermark
    replayed = replay(lines, loyalty.LoyaltyProjection(policy, watermark=watermark)).states["u"]
    # THEN it is the in-order fold settled there, with no purchase before it left pending
    plain = loyalty.fold((decode_event(line) for line in _unique(lines)), policy=policy)
    assert plain is not None
    assert replayed == loyalty.settle(plain, watermark)
    assert replayed.points == expected
    assert all(time >= watermark for time, _ in replayed.pending)
