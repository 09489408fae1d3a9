"""Typed request values shared by the routers and the request schemas.

Each type refuses, as a 422 that names the field, a value the database could not take and
would otherwise fail on in the driver (a 500):

- ids and counts are PostgreSQL ``bigint`` / ``integer``: a number outside their range can
  never name a row;
- text can hold neither NUL (``\\u0000``) nor an unpaired surrogate (not encodable as UTF-8),
  in ``text`` columns and in JSONB alike;
- times are ``timestamptz``: one without an offset means UTC, and one whose UTC time falls
  outside years 1–9999 cannot be represented; a range must not end before it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, Field

from ml_prediction_service.db.limits import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN

BigInt = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""A PostgreSQL ``bigint`` (e.g. an id inside a body)."""
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
"""A PostgreSQL ``integer``."""
PathId = Annotated[int, Path(ge=INT64_MIN, le=INT64_MAX)]
QueryId = Annotated[int | None, Query(ge=INT64_MIN, le=INT64_MAX)]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX)]
Limit = Annotated[int, Query(ge=1, le=1000)]
"""A page size of the list endpoints (their default is 100)."""
HttpStatus = Annotated[int | None, Query(ge=100, le=599, description="An HTTP status code")]


def storable_text(value: str) -> str:
    """``value`` if PostgreSQL can store it as text, else a ValueError saying why."""
    if "\x00" in value:
        raise ValueError(
            "must not contain the NUL character (\\u0000): PostgreSQL text cannot hold it"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"holds an unpaired UTF-16 surrogate at position {exc.start}, which is not "
            "valid Unicode: send the character itself or a complete surrogate pair"
        ) from exc
    return value


def _storable_json(value: Any) -> Any:
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_text(str(key))
            _storable_json(item)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item)
    return value


Text = Annotated[str, AfterValidator(storable_text)]
"""Text PostgreSQL can store (in a body, a query or a path)."""
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
"""A JSON object whose strings (keys and values, at any depth) JSONB can store."""


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; a time without an offset is taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(
            f"{value.isoformat()} is outside the supported range (years 1 to 9999 in UTC)"
        ) from exc


Timestamp = Annotated[datetime, AfterValidator(as_utc)]
"""An ISO 8601 time; without an offset it is UTC."""
From = Annotated[
    Timestamp | None,
    Query(alias="from", description="Start of the time range (ISO 8601; no offset: UTC)"),
]
"""The start of a time range, ``?from=`` (a Python keyword: the argument is ``from_``)."""
To = Annotated[
    Timestamp | None, Query(description="End of the time range (ISO 8601; no offset: UTC)")
]


@dataclass(frozen=True)
class TimeRange:
    since: datetime | None
    until: datetime | None


def range_error(start: datetime, end: datetime, loc: tuple[str, ...]) -> RequestValidationError:
    """The 422 of a range that ends before it starts (``loc``: where ``from`` was given)."""
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": loc,
                "msg": f"'from' ({start.isoformat()}) must not be after 'to' ({end.isoformat()})",
                "input": start.isoformat(),
            }
        ]
    )


def time_range(from_: From = None, to: To = None) -> TimeRange:
    """``?from=&to=``, refused (422) when ``from`` is after ``to``."""
    if from_ is not None and to is not None and from_ > to:
        raise range_error(from_, to, ("query", "from"))
    return TimeRange(from_, to)


TimeRangeDep = Annotated[TimeRange, Depends(time_range)]
