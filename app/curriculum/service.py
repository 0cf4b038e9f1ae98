"""Reading the loaded curriculum: levels, their lessons and a lesson's current version."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.models import Lesson, LessonVersion, Level


def list_levels(session: Session) -> list[tuple[Level, int]]:
    """Active levels in order, each with its number of active lessons."""
    counts = (
        select(Lesson.level_number, func.count().label("n"))
        .where(Lesson.is_active.is_(True))
        .group_by(Lesson.level_number)
        .subquery()
    )
    rows = session.execute(
        select(Level, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.level_number == Level.number)
        .where(Level.is_active.is_(True))
        .order_by(Level.number)
    ).all()
    return [(level, int(n)) for level, n in rows]


def get_level(session: Session, number: int) -> Level:
    level = session.get(Level, number)
    if level is None or not level.is_active:
        raise NotFound(f"Không có bậc {number}.")
    return level


def list_lessons(session: Session, level_number: int) -> Sequence[Lesson]:
    return session.scalars(
        select(Lesson)
        .where(Lesson.level_number == level_number, Lesson.is_active.is_(True))
        .order_by(Lesson.position)
    ).all()


def get_lesson(session: Session, lesson_id: str) -> tuple[Lesson, LessonVersion]:
    """An active lesson and its current version, or 404."""
    row = session.execute(
        select(Lesson, LessonVersion)
        .join(
            LessonVersion,
            (LessonVersion.lesson_id == Lesson.id)
            & (LessonVersion.version == Lesson.current_version),
        )
        .where(Lesson.id == lesson_id, Lesson.is_active.is_(True))
    ).first()
    if row is None:
        raise NotFound("Không tìm thấy bài học.")
    return row[0], row[1]


def get_version(session: Session, version_id: int) -> LessonVersion:
    version = session.get(LessonVersion, version_id)
    if version is None:
        raise NotFound("Không tìm thấy phiên bản bài học.")
    return version
