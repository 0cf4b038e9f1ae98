"""Teach-backs featured under their lesson (being written)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings


def featured_for_lesson(session: Session, *, lesson_id: str, settings: Settings) -> list[Any]:
    """The featured teach-backs shown under a lesson (being written)."""
    return []
