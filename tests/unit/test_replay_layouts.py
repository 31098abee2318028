"""An archive replays the same whichever writer put its attributes in which order.

Today's writer (the catalogue's encoder) puts ``type`` first; the writer
before the catalogue put it fourth (``specversion, id, source, type, ...``),
and years of archives are in that order. Both go through the one decode path
(``catalogue.decode_lines``, a msgspec tagged union on ``type``): the same
events, types, versions and refusals whatever the order of their attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import orjson
import pytest

from projections.accounts import ACCOUNTS
from projections.catalogue import (
    ACCOUNT_DEPOSITED,
    ACCOUNT_OPENED,
    ACCOUNT_WITHDRAWN,
    USER_CREATED,
    USER_LOYALTY_JOINED,
    AccountDeposited,
    AccountOpened,
    LoyaltyJoined,
    UnknownEventVersion,
    UserCreated,
    decode_cloud_event,
    decode_lines,
    record_class,
    schema_uri,
)
from projections.errors import InvalidLine
from projections.loyalty import DEFAULT_POLICY, LoyaltyProjection
from projections.replay import replay

Writer = Callable[[dict[str, Any]], bytes]


def before_catalogue(event: dict[str, Any]) -> bytes:
    """As the writer before the catalogue wrote it: ``specversion, id, source, type, ...``."""
    order = ("specversion", "id", "source", "type", "time", "subject", "datacontenttype")
    first = {key: event[key] for key in order}
    return orjson.dumps({**first, **{k: v for k, v in event.items() if k not in first}})


def today(event: dict[str, Any]) -> bytes:
    """As today's writer writes it (the catalogue's encoder: ``type`` first)."""
    return decode_cloud_event(event).to_json()


def data_first(event: dict[str, Any]) -> bytes:
    """Any other writer's order: ``data`` before every envelope attribute."""
    return orjson.dumps({"data": event["data"], **{k: v for k, v in event.items() if k != "data"}})


WRITERS: dict[str, Writer] = {
    "before_catalogue": before_catalogue,
    "today": today,
    "data_first": data_first,
}


def cloud_event(
    event_type: str, source: str, subject: str, version: int, data: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{subject}-{version}",
        "source": source,
        "type": event_type,
        "time": f"2026-11-{version:02d}T10:00:00.000000Z",
        "subject": subject,
        "datacontenttype": "application/json",
        "aggregateversion": version,
        "data": data,
        **extra,
    }


def account(event_type: str, subject: str, version: int, **data: Any) -> dict[str, Any]:
    return cloud_event(event_type, "/accounts", subject, version, {"account_id": subject, **data})


def account_history() -> list[dict[str, Any]]:
    """Two accounts' events as an archive holds them: interleaved, one early, one twice."""
    a1 = account(ACCOUNT_OPENED, "acc-1", 1, owner_id="u-1", currency="EUR")
    a2 = account(ACCOUNT_DEPOSITED, "acc-1", 2, amount="100.00")
    a3 = account(ACCOUNT_WITHDRAWN, "acc-1", 3, amount="30.50")
    b1 = account(ACCOUNT_OPENED, "acc-2", 1, owner_id="u-2", currency="GBP")
    b2 = account(ACCOUNT_DEPOSITED, "acc-2", 2, amount="7.25")
    return [a1, b1, a3, a2, b2, a2]


def chunk(events: Iterable[dict[str, Any]], writer: Writer) -> bytes:
    return b"".join(writer(event) + b"\n" for event in events)


def user_created_v1(user: str, address: Any) -> dict[str, Any]:
    """A ``user.created`` of version 1 (no dataschema; consent nested in ``consents``)."""
    data = {
        "user_id": user,
        "name": "Ada",
        "lastname": "Lovelace",
        "email": "ada@example.com",
        "address": address,
        "loyalty": True,
        "consents": {"marketing": True},
    }
    return cloud_event(USER_CREATED, "/users", user, 1, data)


def user_created_v2(user: str, address: Any) -> dict[str, Any]:
    data = {
        "user_id": user,
        "name": "Ada",
        "lastname": "Lovelace",
        "email": "ada@example.com",
        "address": address,
        "loyalty": False,
        "marketing": True,
    }
    return cloud_event(
        USER_CREATED, "/users", user, 1, data, dataschema=schema_uri(USER_CREATED, 2)
    )


def test_the_writers_put_type_where_this_test_says() -> None:
    # GIVEN one event WHEN each writer writes it THEN `type` is fourth, first, after `data`
    event = account_history()[0]
    assert list(orjson.loads(before_catalogue(event)))[:4] == [
        "specversion",
        "id",
        "source",
        "type",
    ]
    assert today(event).startswith(b'{"type":')
    assert data_first(event).startswith(b'{"data":')


def test_an_archive_in_either_order_replays_to_the_same_accounts() -> None:
    # GIVEN the same account events as an object of each writer, and one mixing them
    # line by line (a Firehose buffer that spans the deploy of the catalogue)
    history = account_history()
    objects = {name: chunk(history, writer) for name, writer in WRITERS.items()}
    mixed = b"".join(
        chunk([event], (before_catalogue, today)[n % 2]) for n, event in enumerate(history)
    )
    # WHEN each is replayed into the accounts projection
    results = [replay([body], ACCOUNTS) for body in (*objects.values(), mixed)]
    # THEN every one gives the same balances, positions and counts
    first = results[0]
    assert {key: s.balance_cents for key, s in first.states.items()} == {
        "acc-1": 6950,
        "acc-2": 725,
    }
    assert first.stats.duplicates_skipped == 1
    for result in results[1:]:
        assert result.states == first.states
        assert result.positions == first.positions
        assert (result.stats.events_read, result.stats.applied) == (
            first.stats.events_read,
            first.stats.applied,
        )


@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS.keys())
@pytest.mark.parametrize("version", [user_created_v1, user_created_v2])
def test_a_nested_key_named_type_is_data_not_the_tag(
    writer: Writer, version: Callable[[str, Any], dict[str, Any]]
) -> None:
    # GIVEN a user.created whose address (named parts) has a part named `type`
    # holding another event type, whichever comes first in the line
    address = {"type": ACCOUNT_DEPOSITED, "street": "12 St James's Square"}
    body = chunk([version("u-1", address)], writer)
    # WHEN the one decode path reads it
    (event,) = decode_lines(body)
    # THEN it is a user.created of the current version with the address intact
    assert type(event) is record_class(UserCreated)
    assert isinstance(event.data, UserCreated)
    assert event.data.address == address
    assert event.data.marketing is True
    assert event.dataschema == schema_uri(USER_CREATED, 2)


def test_one_object_mixes_types_versions_and_orders() -> None:
    # GIVEN one object holding both versions of user.created, a loyalty_joined and
    # account events, lines of either writer
    events = [
        (before_catalogue, user_created_v1("u-1", "1 Old Street")),
        (today, user_created_v2("u-2", {"city": "London"})),
        (
            before_catalogue,
            cloud_event(USER_LOYALTY_JOINED, "/users", "u-2", 2, {"user_id": "u-2"}),
        ),
        (today, account(ACCOUNT_OPENED, "acc-1", 1, owner_id="u-1", currency="EUR")),
        (before_catalogue, account(ACCOUNT_DEPOSITED, "acc-1", 2, amount="12.50")),
        (data_first, user_created_v1("u-3", {"street": "x"})),
    ]
    body = b"".join(writer(event) + b"\n" for writer, event in events)
    # WHEN decoded in one call
    decoded = decode_lines(body)
    # THEN each line is its own type, every user.created of the current version
    assert [type(e.data) for e in decoded] == [
        UserCreated,
        UserCreated,
        LoyaltyJoined,
        AccountOpened,
        AccountDeposited,
        UserCreated,
    ]
    assert [e.type for e in decoded] == [event["type"] for _, event in events]
    assert [e.subject for e in decoded] == [event["subject"] for _, event in events]
    users = [e for e in decoded if isinstance(e.data, UserCreated)]
    assert {e.dataschema for e in users} == {schema_uri(USER_CREATED, 2)}
    assert [e.data.marketing for e in users if isinstance(e.data, UserCreated)] == [True] * 3
    # AND the loyalty fold reads them alike whatever the writer
    states = replay([body], LoyaltyProjection(DEFAULT_POLICY)).states
    assert sorted(states) == ["u-1", "u-2", "u-3"]


def refusal(body: bytes) -> tuple[type[Exception], str]:
    try:
        decode_lines(body)
    except (msgspec.ValidationError, UnknownEventVersion) as exc:
        return type(exc), str(exc)
    raise AssertionError("decoded")


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "com.example.account.renamed"},
        {"dataschema": schema_uri(USER_CREATED, 9)},
        {"dataschema": schema_uri(ACCOUNT_DEPOSITED, 2)},
    ],
    ids=["unknown type", "unknown version", "version of a type without versions"],
)
def test_an_unknown_type_or_version_is_refused_alike_in_either_order(bad: dict[str, Any]) -> None:
    # GIVEN a good line and a line of an unknown type or version, in each order
    # (today's encoder refuses to write such a line: `type` first by hand)
    good = account(ACCOUNT_OPENED, "acc-1", 1, owner_id="u-1", currency="EUR")
    line = {**user_created_v1("u-1", "x"), **bad}
    bodies = {
        name: chunk([good, line], writer)
        for name, writer in (
            ("before_catalogue", before_catalogue),
            ("type_first", lambda e: orjson.dumps({"type": e["type"], **e})),
            ("data_first", data_first),
        )
    }
    # WHEN decoded THEN the refusal is the same error in the same words either way
    refusals = {name: refusal(body) for name, body in bodies.items()}
    assert len(set(refusals.values())) == 1
    kind, words = refusals["before_catalogue"]
    if "type" in bad:
        assert kind is msgspec.ValidationError
        assert "com.example.account.renamed" in words
        assert "`$[1].type`" in words  # the line (its index in the chunk) and the tag
    else:
        assert kind is UnknownEventVersion
        assert bad["dataschema"] in words
    # AND a strict replay refuses the chunk, naming the line; a lenient one counts it
    for body in bodies.values():
        with pytest.raises(InvalidLine, match="line 2 of a chunk"):
            replay([body], ACCOUNTS)
        result = replay([body], ACCOUNTS, strict=False)
        assert (result.stats.invalid_lines, sorted(result.states)) == (1, ["acc-1"])
