"""The base of every JSON request body."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Strict


class JsonIn(BaseModel):
    """A JSON request body. Values are taken with their JSON types and never converted
    (`true` is not 1, `"5"` is not 5, `0` is not false), so a field accepts what the
    OpenAPI description says it is and nothing else. JSON has no enums and its object keys
    are strings: mark such fields `Lax`."""

    model_config = ConfigDict(strict=True)


# For an enum field of a JsonIn (its value arrives as a string) or an integer object key.
Lax = Strict(False)
