"""scripts/replay.py --projection search: archive -> new index -> alias swap (moto S3, SQLite)."""

from __future__ import annotations

from typing import Any

import boto3
import orjson
import pytest
import replay as replay_script

from chalicelib.adapters.personal_data import (
    REDACTED,
    PersonalDataVault,
    forget_all_keys,
    is_sealed,
)
from chalicelib.adapters.search.sqlite import SqliteSearchIndex
from chalicelib.domain.events import DATA_MODELS, UserCreated, new_event
from chalicelib.entrypoints.search_params import parse_search_query
from tests.handler.test_replay import T0, history, put_archive
from tests.handler.test_replay import aws as aws  # the fixture, re-exported


@pytest.fixture
def live_index(aws: dict[str, Any], sqlite_search_index: SqliteSearchIndex) -> SqliteSearchIndex:
    """GIVEN a live SQLite search index (alias events -> events-v1) holding one stale event."""
    index = sqlite_search_index
    stale = new_event(
        UserCreated(user_id="gone", name="Stale", lastname="X", email="s@example.com", address="z"),
        subject="gone",
        version=1,
        time=T0,
    )
    index.index_events([stale.to_dict()])
    return index


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert replay_script.main(list(argv)) == 0
    return dict(orjson.loads(capsys.readouterr().out.strip().splitlines()[-1]))


def test_replay_search_rebuilds_into_a_new_index_and_swaps_the_alias(
    aws: dict[str, Any], live_index: SqliteSearchIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an archive of 6 events, one delivered twice
    events = history()
    put_archive(aws, events)
    # WHEN the search projection is replayed
    summary = _run(capsys, "--projection", "search")
    # THEN a new timestamped index holds each event once and the alias points at it
    assert summary["projection"] == "search"
    assert summary["alias"] == "events"
    assert summary["index"].startswith("events-") and summary["index"] != "events-v1"
    assert summary["previous_indices"] == ["events-v1"]
    assert (summary["events_indexed"], summary["invalid"]) == (7, 0)
    assert summary["events_per_s"] > 0
    assert live_index.aliased_indices() == [summary["index"]]
    result = live_index.search(parse_search_query({"size": "100"}))
    assert result.total == 6
    assert {e["id"] for e in result.events} == {e.id for e in events}
    assert live_index.search(parse_search_query({"q": "stale"})).total == 0


def test_events_archived_during_the_rebuild_are_caught_up(
    aws: dict[str, Any],
    live_index: SqliteSearchIndex,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an archive, and a delivery that lands while the rebuild runs
    put_archive(aws, history())
    late = new_event(
        UserCreated(user_id="late", name="Tardy", lastname="Y", email="t@example.com", address="q"),
        subject="late",
        version=1,
        time=T0,
    )
    original = replay_script.rebuild_index

    def rebuild_while_delivering(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        aws["s3"].put_object(
            Bucket=aws["bucket"], Key="events/year=2026/month=03/day=03/c", Body=late.to_json()
        )
        return result

    monkeypatch.setattr(replay_script, "rebuild_index", rebuild_while_delivering)
    # WHEN the search projection is replayed
    summary = _run(capsys, "--projection", "search")
    # THEN the late event is in the new index too
    assert summary["events_indexed"] == 8
    assert live_index.search(parse_search_query({"q": "tardy"})).total == 1


def test_replay_search_rejects_until(aws: dict[str, Any], live_index: SqliteSearchIndex) -> None:
    with pytest.raises(SystemExit):
        replay_script.main(["--projection", "search", "--until", "2026-03-01"])


def _sealed_registration(user_id: str, name: str, lastname: str) -> Any:
    """A user.created event as the ledger and the archive hold it: personal fields sealed."""
    from chalicelib.entrypoints.roots import vault

    keys = vault.data_keys()
    key, put = keys.generate(user_id)
    aws_table = boto3.resource("dynamodb").Table(put["Put"]["TableName"])
    aws_table.put_item(Item=put["Put"]["Item"])
    created = UserCreated(
        user_id=user_id, name=name, lastname=lastname, email=f"{user_id}@example.com", address="x"
    )
    event = new_event(created, subject=user_id, version=1, time=T0).to_dict()
    fields = DATA_MODELS[event["type"]].personal_fields
    return {**event, "data": PersonalDataVault.seal_with(key, user_id, event["data"], fields)}


def test_a_rebuilt_index_finds_people_by_name_and_keeps_the_erased_redacted(
    aws_env: dict[str, str],
    sqlite_search_index: SqliteSearchIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an archive of two sealed registrations, and the second person since erased
    alice = _sealed_registration("u-alice", "Alice", "Liddell")
    bob = _sealed_registration("u-bob", "Bob", "Babbage")
    assert "Liddell" not in orjson.dumps(alice).decode()
    boto3.resource("dynamodb").Table(aws_env["PERSONAL_DATA_KEYS_TABLE"]).delete_item(
        Key={"user_id": "u-bob"}
    )
    forget_all_keys()
    boto3.client("s3").put_object(
        Bucket=aws_env["ARCHIVE_BUCKET"],
        Key="events/year=2026/month=03/day=01/a",
        Body=b"\n".join(orjson.dumps(e) for e in (alice, bob)),
    )
    # WHEN the documented rebuild runs
    summary = _run(capsys, "--projection", "search")
    # THEN a search by name finds the person, with her name in clear
    assert summary["events_indexed"] == 2
    found = sqlite_search_index.search(parse_search_query({"q": "Liddell"}))
    assert found.total == 1
    assert found.events[0]["data"]["name"] == "Alice"
    # AND the erased person's fields are redacted, never ciphertext, never found by name
    (erased,) = sqlite_search_index.search(parse_search_query({"subject": "u-bob"})).events
    assert erased["data"]["lastname"] == REDACTED
    assert not any(is_sealed(value) for value in erased["data"].values())
    assert sqlite_search_index.search(parse_search_query({"q": "Babbage"})).total == 0
