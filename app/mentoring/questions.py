"""Questions under lessons (being written)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def lesson_summary(session: Session, *, lesson_id: str, viewer_id: int) -> dict[str, Any]:
    """What the lesson page shows of its questions (being written)."""
    return {"count": 0, "recent": []}
