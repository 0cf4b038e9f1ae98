"""Row ids as they come in from outside: whole numbers from 1 to the largest value an
integer column holds, so an out-of-range id is refused at the edge (422) instead of
reaching the database (PostgreSQL's `integer` is 32-bit)."""

from __future__ import annotations

from typing import Annotated

import annotated_types

MAX_ID = 2**31 - 1

# For path and query parameters and for fields of request bodies alike.
Id = Annotated[int, annotated_types.Ge(1), annotated_types.Le(MAX_ID)]


def parse_id(raw: object) -> int | None:
    """An id typed into a form or a query string, or None when it is not one."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None
