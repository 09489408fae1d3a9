"""What the service's columns can hold: the bounds that the API's request types and the model
metadata parser check, so that a value out of range is refused with its name, not failed on
in the driver."""

from __future__ import annotations

INT64_MIN = -(2**63)  # bigint
INT64_MAX = 2**63 - 1
INT32_MIN = -(2**31)  # integer
INT32_MAX = 2**31 - 1
TARGET_VALUE_LIMIT = 1e17  # |target_value| below this: NUMERIC(20, 2)
PERCENT_LIMIT = 1e5  # |price_change_percent| below this: NUMERIC(10, 4)
