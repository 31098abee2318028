"""The event catalogue: one declaration per type, the CloudEvents shape, and schema versions.

Versions travel in CloudEvents ``dataschema`` (absent: version 1). An older
version is upcast in the one decode path, so every reader gets the current
one; a version this code does not know is refused in words.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from cloudevents.core.formats.json import JSONFormat

from chalicelib.adapters.personal_data import PersonalDataVault
from chalicelib.adapters.search.documents import current_event
from chalicelib.domain.events import new_event, parse_event, with_data
from chalicelib.domain.exceptions import InvalidEvent
from chalicelib.service.fanout import message_attributes
from projections import catalogue
from projections.catalogue import (
    DATA_TYPES,
    USER_CREATED,
    UserCreated,
    decode_event,
    decode_lines,
    from_mapping,
    schema_uri,
)
from projections.errors import InvalidLine
from projections.loyalty import DEFAULT_POLICY, LoyaltyProjection
from projections.replay import replay

ROOT = Path(__file__).resolve().parents[2]
KEY = bytes(range(32))
ADDRESS = {"street": "12 St James's Square", "city": "London"}


def v1_user_created(*, marketing: bool, loyalty: bool = True, user: str = "u-1") -> dict[str, Any]:
    """A ``user.created`` as the platform wrote it until version 2 (no ``dataschema``)."""
    return {
        "specversion": "1.0",
        "id": f"{user}-1",
        "source": "/users",
        "type": USER_CREATED,
        "time": "2026-11-27T10:00:00.000000Z",
        "subject": user,
        "datacontenttype": "application/json",
        "aggregateversion": 1,
        "data": {
            "user_id": user,
            "name": "Ada",
            "lastname": "Lovelace",
            "email": "ada@example.com",
            "address": ADDRESS,
            "loyalty": loyalty,
            "consents": {"marketing": marketing},
        },
    }


def current_user_created(*, marketing: bool, loyalty: bool = True) -> dict[str, Any]:
    data = UserCreated(
        user_id="u-1",
        name="Ada",
        lastname="Lovelace",
        email="ada@example.com",
        address=ADDRESS,
        loyalty=loyalty,
        marketing=marketing,
    )
    when = datetime(2026, 11, 27, 10, tzinfo=UTC)
    return new_event(data, subject="u-1", version=1, time=when, event_id="u-1-1").to_dict()


# The decode paths every reader goes through: raw JSON, NDJSON chunks, parsed dicts, checked.
DECODERS: dict[str, Any] = {
    "decode_event": lambda raw: decode_event(orjson.dumps(raw)),
    "decode_lines": lambda raw: decode_lines(orjson.dumps(raw) + b"\n")[0],
    "from_mapping": from_mapping,
    "decode_cloud_event": catalogue.decode_cloud_event,
    "parse_event": parse_event,
}


@pytest.mark.parametrize("marketing", [True, False])
@pytest.mark.parametrize("decode", DECODERS.values(), ids=DECODERS.keys())
def test_a_version_1_user_created_is_read_as_the_current_version(
    decode: Any, marketing: bool
) -> None:
    # GIVEN a user.created written before version 2 (marketing inside consents)
    old = v1_user_created(marketing=marketing)
    # WHEN any decode path reads it
    event = decode(old)
    # THEN the reader gets version 2: the same facts, marketing a flag of its own
    assert event.data == UserCreated(
        user_id="u-1",
        name="Ada",
        lastname="Lovelace",
        email="ada@example.com",
        address=ADDRESS,
        loyalty=True,
        marketing=marketing,
    )
    assert event.dataschema == schema_uri(USER_CREATED, 2)
    # AND it is what today's code writes for the same registration
    written = parse_event(current_user_created(marketing=marketing))
    assert (event.type, event.subject, event.aggregateversion, event.time) == (
        written.type,
        written.subject,
        written.aggregateversion,
        written.time,
    )
    if isinstance(event, catalogue.CloudEvent):
        assert event.to_dict() == written.to_dict()


def test_new_user_created_events_are_written_as_version_2() -> None:
    # WHEN today's code writes a registration
    written = current_user_created(marketing=True)
    # THEN it names its version and carries the flag, not the nested consents
    assert written["dataschema"] == schema_uri(USER_CREATED, 2)
    assert written["data"]["marketing"] is True
    assert "consents" not in written["data"]


def test_a_type_with_one_version_carries_no_dataschema() -> None:
    event = new_event(
        catalogue.AccountOpened(account_id="a", owner_id="u", currency="EUR"),
        subject="a",
        version=1,
    )
    assert "dataschema" not in event.to_dict()


@pytest.mark.parametrize(
    "dataschema",
    [
        schema_uri(USER_CREATED, 3),
        schema_uri(catalogue.USER_ERASED, 2),
        "https://example.org/someone-elses-schema",
    ],
)
def test_an_unknown_version_is_refused_in_words(dataschema: str) -> None:
    # GIVEN a user.created naming a version this code does not read
    raw = {**v1_user_created(marketing=True), "dataschema": dataschema}
    # WHEN it is parsed THEN it is an InvalidEvent that names the version and what is read
    with pytest.raises(InvalidEvent) as refused:
        parse_event(raw)
    assert dataschema in str(refused.value)
    assert schema_uri(USER_CREATED, 2) in str(refused.value)


@pytest.mark.parametrize(
    "decode",
    [d for name, d in DECODERS.items() if name != "parse_event"],
    ids=[name for name in DECODERS if name != "parse_event"],
)
def test_every_decode_path_raises_unknown_event_version_itself(decode: Any) -> None:
    # GIVEN a user.created naming a version this code does not read (the upcast
    # runs inside msgspec's decoding, which wraps what it raises)
    raw = {**v1_user_created(marketing=True), "dataschema": schema_uri(USER_CREATED, 9)}
    # WHEN a decode path reads it THEN the caller gets UnknownEventVersion, naming it
    with pytest.raises(catalogue.UnknownEventVersion, match="v9"):
        decode(raw)


def test_a_replay_refuses_an_unknown_version_or_counts_it_when_not_strict() -> None:
    # GIVEN an archive chunk with a valid v1 registration and one of an unknown version
    good = v1_user_created(marketing=True, user="u-1")
    unknown = {
        **v1_user_created(marketing=True, user="u-2"),
        "dataschema": schema_uri(USER_CREATED, 9),
    }
    chunk = orjson.dumps(good) + b"\n" + orjson.dumps(unknown) + b"\n"
    projection = LoyaltyProjection(DEFAULT_POLICY)
    # WHEN replayed strictly THEN the line is refused
    with pytest.raises(InvalidLine, match="v9"):
        replay([chunk], projection)
    # AND leniently it is counted, the rest folded
    result = replay([chunk], projection, strict=False)
    assert result.stats.invalid_lines == 1
    assert set(result.states) == {"u-1"}


def test_both_versions_fold_to_the_same_loyalty_state() -> None:
    # GIVEN the same registration once as version 1 and once as version 2
    old = orjson.dumps(v1_user_created(marketing=True))
    new = orjson.dumps(current_user_created(marketing=True))
    projection = LoyaltyProjection(DEFAULT_POLICY)
    # WHEN each is replayed THEN the states are the same
    assert replay([old], projection).states == replay([new], projection).states


@pytest.mark.parametrize("marketing", [True, False])
@pytest.mark.parametrize("loyalty", [True, False])
def test_the_fanout_gives_both_versions_the_same_attributes(marketing: bool, loyalty: bool) -> None:
    old = parse_event(v1_user_created(marketing=marketing, loyalty=loyalty))
    new = parse_event(current_user_created(marketing=marketing, loyalty=loyalty))
    flag = {True: "true", False: "false"}
    assert message_attributes(old) == message_attributes(new)
    assert message_attributes(old)["marketing"]["StringValue"] == flag[marketing]
    assert message_attributes(old)["loyalty"]["StringValue"] == flag[loyalty]


@pytest.mark.parametrize("version", [1, 2])
def test_sealed_personal_fields_survive_the_upcast_and_open(version: int) -> None:
    # GIVEN a registration of either version with its personal fields sealed
    raw = v1_user_created(marketing=True) if version == 1 else current_user_created(marketing=True)
    sealed = PersonalDataVault.seal_with(KEY, "u-1", raw["data"], UserCreated.personal_fields)
    stored = {**raw, "data": sealed}
    # WHEN it is read (upcast to version 2) and its fields opened with the person's key
    event = parse_event(stored)
    opened = _vault().open("u-1", event.to_dict()["data"], UserCreated.personal_fields)
    # THEN the sealed text went through unchanged and opens to the person's data
    assert {f: getattr(event.data, f) for f in UserCreated.personal_fields} == {
        f: sealed[f] for f in UserCreated.personal_fields
    }
    assert (opened["name"], opened["email"], opened["address"]) == (
        "Ada",
        "ada@example.com",
        ADDRESS,
    )


def test_search_documents_of_version_1_are_shown_as_the_current_version() -> None:
    # GIVEN a document indexed from a version 1 registration
    indexed = v1_user_created(marketing=False)
    # WHEN the search (or an event list) shows it THEN it is version 2
    assert current_event(indexed) == current_user_created(marketing=False)
    # AND a document already current is shown as it is
    assert current_event(current_user_created(marketing=True)) == current_user_created(
        marketing=True
    )


def test_sealing_a_new_event_keeps_its_version_and_type() -> None:
    # GIVEN a new registration, then its personal fields sealed (as users.py does)
    event = parse_event(current_user_created(marketing=True))
    sealed = PersonalDataVault.seal_with(
        KEY, "u-1", event.to_dict()["data"], UserCreated.personal_fields
    )
    # WHEN the sealed data replaces the plain one
    stored = with_data(event, sealed)
    # THEN the event is the same version 2 registration, its fields sealed
    assert stored.dataschema == event.dataschema and stored.id == event.id
    assert isinstance(stored.data, UserCreated) and stored.data.name == sealed["name"]


def test_round_trip_of_both_versions_through_the_cloudevents_sdk() -> None:
    fmt = JSONFormat()
    for raw in (v1_user_created(marketing=True), current_user_created(marketing=True)):
        # GIVEN an event on the stream, of either version, as we write it
        written = parse_event(raw).to_json()
        # WHEN the official SDK reads it and writes it back
        sdk_event = fmt.read(None, written)
        # THEN the SDK sees its version, and we read back the same event
        assert sdk_event.get_dataschema() == schema_uri(USER_CREATED, 2)
        assert sdk_event.get_extension("aggregateversion") == 1
        assert parse_event(fmt.write(sdk_event)) == parse_event(raw)


def test_every_type_declares_a_source_and_only_known_sns_attributes() -> None:
    for event_type, data_type in DATA_TYPES.items():
        assert data_type.type == event_type and data_type.source.startswith("/")
        assert data_type.personal_fields <= set(data_type.__struct_fields__)
        for version, step in data_type.upcasts.items():
            assert 1 <= version < data_type.version
            assert isinstance(step.shape, type) and issubclass(step.shape, msgspec.Struct)


def _vault() -> PersonalDataVault:
    class Keys:
        @staticmethod
        def key(user_id: str) -> bytes:
            return KEY

    return PersonalDataVault(Keys())  # type: ignore[arg-type]


# --- The catalogue's rules over the source tree --------------------------------------

# Files written by a script from the declarations (each has a test that they are current).
GENERATED = {"openapi.json", "infra/subscribers.auto.tfvars.json"}
TYPE_STRING = re.compile(r"com\.example\.[a-z_]+\.[a-z_]+")


SOURCE_FOLDERS = ("chalice_app", "projections", "scripts", "infra")
# Caches, tool state and links (chalice_app/vendor links projections/) hold no source.
SKIPPED_PARTS = {"__pycache__", ".terraform", ".chalice", "node_modules", ".mypy_cache"}


def _hand_written_sources() -> list[Path]:
    candidates = [ROOT / "Makefile", ROOT / "pyproject.toml"]
    for folder in SOURCE_FOLDERS:
        candidates += sorted((ROOT / folder).rglob("*"))
    return [
        path
        for path in candidates
        if path.is_file()
        and not any(part in SKIPPED_PARTS for part in path.parts)
        and not any(parent.is_symlink() for parent in path.parents)
        and not path.is_symlink()
        and path.suffix not in {".md", ".pyc"}
        and str(path.relative_to(ROOT)) not in GENERATED
    ]


def test_each_event_type_string_is_spelled_in_one_hand_written_source_file() -> None:
    # GIVEN every hand-written, non-test source file of the repository
    spelled: Counter[str] = Counter()
    where: dict[str, set[str]] = {}
    for path in _hand_written_sources():
        text = path.read_text(errors="ignore")
        for found in set(TYPE_STRING.findall(text)):
            spelled[found] += 1
            where.setdefault(found, set()).add(str(path.relative_to(ROOT)))
    # THEN each declared type is spelled in exactly one file: the catalogue
    assert set(spelled) == set(DATA_TYPES), where
    assert all(where[t] == {"projections/catalogue.py"} for t in DATA_TYPES), where


def test_no_reader_in_chalicelib_or_projections_reads_data_untyped() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _hand_written_sources()
        if path.suffix == ".py" and path.parts[len(ROOT.parts)] in ("chalice_app", "projections")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "data.get(" in line
    ]
    assert offenders == []
