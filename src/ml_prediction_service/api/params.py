"""Typed request parameters shared by the routers.

Database ids are PostgreSQL ``bigint``: a number outside its range can never name a row, and
would fail in the driver (a 500) instead of being refused. These bounds make it a 422 that
names the parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query

from ml_prediction_service.errors import ServiceError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

PathId = Annotated[int, Path(ge=INT64_MIN, le=INT64_MAX)]
QueryId = Annotated[int | None, Query(ge=INT64_MIN, le=INT64_MAX)]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX)]
Limit = Annotated[int, Query(ge=1, le=1000)]
"""A page size of the list endpoints (their default is 100)."""
From = Annotated[datetime | None, Query(alias="from")]
"""The start of a time range, ``?from=`` (a Python keyword: the argument is ``from_``)."""


def check_range(from_: datetime | None, to: datetime | None) -> None:
    """Refuse a time range that ends before it starts (422)."""
    if from_ is not None and to is not None and from_ > to:
        raise ServiceError("'from' must not be after 'to'", code="validation_error", status=422)
