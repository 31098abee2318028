"""The next-expected-version rule every versioned consumer applies."""

from __future__ import annotations

import pytest

from projections.ordering import Arrival, arrival


@pytest.mark.parametrize(
    ("applied", "incoming", "expected"),
    [
        (0, 1, Arrival.NEXT),
        (3, 4, Arrival.NEXT),
        (3, 3, Arrival.DUPLICATE),
        (3, 1, Arrival.DUPLICATE),
        (0, 2, Arrival.EARLY),
        (3, 5, Arrival.EARLY),
    ],
)
def test_an_event_is_next_duplicate_or_early(
    applied: int, incoming: int, expected: Arrival
) -> None:
    # GIVEN the version a consumer applied last and an incoming version
    # WHEN classifying the incoming event
    # THEN only applied + 1 is next; older is a duplicate, later waits for its predecessor
    assert arrival(applied, incoming) is expected
