"""JSON encoding for the hot paths (payloads into the outbox and onto the wire).

orjson is several times faster than the standard library and writes compact UTF-8. Options
keep what ``json.dumps`` accepted here: numpy scalars and arrays, non-string dict keys. NaN
and infinities become ``null`` (PostgreSQL's jsonb rejects them anyway).
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

loads = orjson.loads


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def dumps_text(value: Any) -> str:
    return orjson.dumps(value, option=_OPTIONS).decode()
