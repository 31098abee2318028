"""An archive written by the event code of 2026-12-02 replays to the state it replayed to then.

The fixture (tests/fixtures/archive_2026_12_02, made by its generate.py) is
what Firehose wrote that day: gzip NDJSON objects in the bucketed and the
earlier layout, some events delivered twice. Events are kept for years; the
code that reads them changes. This test must pass unchanged whatever the
event code becomes: an old archive replays through today's readers.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from chalicelib import resources
from chalicelib.adapters.archive import ArchiveObject, delivery_order
from chalicelib.adapters.archive_split import part_chunks, split_archive
from chalicelib.adapters.read_model_catalog import read_model
from projections.replay import merge_parts, replay, replay_part

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "archive_2026_12_02"
ARCHIVE = FIXTURE / "archive"


class Folder:
    """The archive folder as an object source (keys relative to it, gunzipped)."""

    def read(self, key: str) -> bytes:
        return gzip.decompress((ARCHIVE / key).read_bytes())


def objects() -> list[ArchiveObject]:
    found = [
        ArchiveObject(str(path.relative_to(ARCHIVE)), path.stat().st_size)
        for path in ARCHIVE.rglob("*.gz")
    ]
    return sorted(found, key=delivery_order)


def expected() -> dict[str, Any]:
    state: dict[str, Any] = orjson.loads((FIXTURE / "state.json").read_bytes())
    return state


def as_recorded(model_name: str, result: Any) -> dict[str, Any]:
    """A replay result in the shape state.json records it (items as JSON)."""
    model = read_model(model_name)
    recorded: dict[str, Any] = orjson.loads(
        orjson.dumps(
            {
                "states": {key: model.fold.to_item(s) for key, s in result.states.items()},
                "positions": result.positions,
                "events_read": result.stats.events_read,
                "applied": result.stats.applied,
                "duplicates_skipped": result.stats.duplicates_skipped,
            }
        )
    )
    return recorded


def test_the_fixture_holds_both_layouts_every_event_type_and_duplicates() -> None:
    # GIVEN the archive of 2026-12-02
    keys = [o.key for o in objects()]
    lines = [line for o in objects() for line in Folder().read(o.key).splitlines() if line]
    events = [orjson.loads(line) for line in lines]
    # THEN it has objects of both layouts, every event type, and repeated deliveries
    assert any("/buckets=" in key for key in keys)
    assert any(key.startswith("events/year=") for key in keys)
    assert len({e["type"] for e in events}) == 9
    assert len({(e["subject"], e["aggregateversion"]) for e in events}) < len(events)


@pytest.mark.parametrize("name", [spec.name for spec in resources.READ_MODELS])
def test_the_archive_of_2026_12_02_replays_to_the_state_it_replayed_to_then(name: str) -> None:
    # GIVEN the archive of 2026-12-02 and the state its day's code folded from it
    chunks = [Folder().read(o.key) for o in objects()]
    # WHEN today's code replays it
    result = replay(chunks, read_model(name).fold.projection)
    # THEN every state, position and count is the same
    assert as_recorded(name, result) == expected()[name]


@pytest.mark.parametrize("name", [spec.name for spec in resources.READ_MODELS])
def test_the_archive_replayed_in_parts_by_bucket_gives_the_same_state(name: str) -> None:
    # GIVEN the archive split in 3 parts by bucket (the unbucketed objects shared)
    projection = read_model(name).fold.projection
    if not hasattr(projection.reducer(), "absorb"):
        pytest.skip(f"{name} is not replayed in parts")
    parts = split_archive(objects(), 3)
    # WHEN each part is folded and the parts merged
    merged = merge_parts(
        projection, [replay_part(part_chunks(part, Folder()), projection) for part in parts]
    )
    # THEN the states and positions are those recorded on the day
    recorded = as_recorded(name, merged)
    assert recorded["states"] == expected()[name]["states"]
    assert recorded["positions"] == expected()[name]["positions"]
