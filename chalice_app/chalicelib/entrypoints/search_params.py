"""``GET /search`` parameters: parsed and validated into the search port's ``SearchQuery``.

The HTTP edge's half of a search: the pydantic model of the query string
(which the OpenAPI document also describes) and its validation. It lives
apart from the query (chalicelib.adapters.search.query) so that the search
functions, which import the search package, never import pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.adapters.search.query import (
    DEFAULT_SIZE,
    MAX_FILTER_LENGTH,
    MAX_Q_LENGTH,
    MAX_SIZE,
    MAX_TIME,
    SearchQuery,
    normalize_time,
)
from chalicelib.domain.exceptions import ValidationFailed
from chalicelib.domain.inputs import (
    BLANK_PATTERN,
    INSTANT_PATTERN,
    is_blank,
    parse_instant,
    validation_details,
)
from projections.catalogue import USER_CREATED

__all__ = ["SearchParams", "parse_search_query"]

# A blank value counts as absent (an empty search box); both are anchored patterns.
_INSTANT_OR_BLANK = f"^(?:{BLANK_PATTERN[1:-1]}|{INSTANT_PATTERN[1:-1]})$"


class SearchParams(BaseModel):
    """The query parameters of ``GET /search``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str | None = Field(
        None,
        max_length=MAX_FILTER_LENGTH,
        description=f"Event type, such as {USER_CREATED}.",
    )
    subject: str | None = Field(
        None, max_length=MAX_FILTER_LENGTH, description="Aggregate id (the event's subject)."
    )
    q: str | None = Field(
        None, max_length=MAX_Q_LENGTH, description="Words that must all appear in the event data."
    )
    from_: str | None = Field(
        None,
        alias="from",
        description="Earliest event time (inclusive): an ISO-8601 date or date-time written in "
        "the years 1970 to 9999, UTC without an offset. Blank: no bound.",
        json_schema_extra={"pattern": _INSTANT_OR_BLANK},
    )
    to: str | None = Field(
        None,
        description="Latest event time (inclusive), as `from`. Blank: no bound; "
        "before `from`: no event.",
        json_schema_extra={"pattern": _INSTANT_OR_BLANK},
    )
    size: int = Field(DEFAULT_SIZE, ge=1, le=MAX_SIZE, strict=False, description="Events per page.")


def _detail(field: str, message: str) -> dict[str, Any]:
    return {"field": field, "message": message}


def _parse_time(field: str, value: str) -> tuple[str | None, dict[str, Any] | None]:
    try:
        parsed = parse_instant(value)
    except ValueError as exc:
        return None, _detail(field, str(exc))
    # No event is later than date_nanos can hold: a later bound selects the same events.
    return normalize_time(min(parsed, MAX_TIME)), None


def parse_search_query(params: Mapping[str, str] | None) -> SearchQuery:
    """Validate ``GET /search`` query parameters; ValidationFailed (400) on any bad one.

    Blank values count as absent (an empty search box); unknown parameters are
    errors. ``to`` before ``from`` selects no event (not an error: JSON Schema
    cannot state a rule across parameters, and the contract says all rules).
    """
    raw = {key: value for key, value in (params or {}).items() if not is_blank(value)}
    details: list[dict[str, Any]] = []
    try:
        parsed = SearchParams.model_validate(raw)
    except ValidationError as exc:
        parsed = None
        details = validation_details(exc)
    # Dates are checked even when another parameter failed: every bad field is reported.
    times: dict[str, str | None] = {}
    for name in ("from", "to"):
        times[name] = None
        if isinstance(raw.get(name), str):
            times[name], problem = _parse_time(name, raw[name])
            details += [problem] if problem else []
    time_from, time_to = times["from"], times["to"]
    if details or parsed is None:
        raise ValidationFailed("invalid search parameters", details=details)
    return SearchQuery(
        type=parsed.type,
        subject=parsed.subject,
        q=parsed.q,
        time_from=time_from,
        time_to=time_to,
        size=parsed.size,
    )
