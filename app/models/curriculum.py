"""The curriculum as loaded from `curriculum/`: levels, lessons and their versions.

A lesson's content lives in versions: editing a lesson file adds a version and makes it
current, so a submission keeps pointing at the exact version (rubric included) it answered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin


class Level(TimestampMixin, Base):
    __tablename__ = "levels"

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    folder: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    outcomes: Mapped[list[str]] = mapped_column(JSON)
    certificate: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(default=True)


class Lesson(TimestampMixin, Base):
    """A lesson by its stable id; what learners see is its `current_version`."""

    __tablename__ = "lessons"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    level_number: Mapped[int] = mapped_column(ForeignKey("levels.number", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column()
    current_version: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(String(120))
    minutes: Mapped[int] = mapped_column()
    groups: Mapped[list[str]] = mapped_column(JSON)
    source_path: Mapped[str] = mapped_column(String(300))
    is_active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (Index("ix_lessons_level_position", "level_number", "position"),)


class LessonVersion(IdMixin, TimestampMixin, Base):
    __tablename__ = "lesson_versions"

    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column()
    content_hash: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("lesson_id", "version"),)
