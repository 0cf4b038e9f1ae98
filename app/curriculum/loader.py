"""Sync the checked curriculum files into the database, idempotently.

Unchanged levels and lessons are not touched; a lesson whose content changed gets a new
version that becomes current (earlier versions stay for the submissions that answered them);
a lesson whose file is gone is retired, not deleted."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.curriculum.validate import Curriculum, LessonSource, LevelSource
from app.models import Lesson, LessonVersion, Level

_LOCK_KEY = 7_141_592_653  # PostgreSQL advisory lock: one curriculum load at a time


@dataclass
class SyncReport:
    levels_created: list[int] = field(default_factory=list)
    levels_updated: list[int] = field(default_factory=list)
    lessons_created: list[str] = field(default_factory=list)
    lessons_changed: list[str] = field(default_factory=list)  # a new version
    lessons_moved: list[str] = field(default_factory=list)  # new place, same content
    lessons_retired: list[str] = field(default_factory=list)
    lessons_unchanged: int = 0

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.levels_created
            or self.levels_updated
            or self.lessons_created
            or self.lessons_changed
            or self.lessons_moved
            or self.lessons_retired
        )

    def summary(self) -> str:
        return (
            f"curriculum: {len(self.levels_created)} levels created, "
            f"{len(self.levels_updated)} updated; {len(self.lessons_created)} lessons created, "
            f"{len(self.lessons_changed)} new versions, {len(self.lessons_moved)} moved, "
            f"{len(self.lessons_retired)} retired, {self.lessons_unchanged} unchanged"
        )


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def lesson_content(item: LessonSource, curriculum: Curriculum) -> dict[str, Any]:
    """What a version stores: the lesson as validated, with the teach-back rubric it is
    graded with folded in, so a version alone is enough to grade its submissions."""
    content = item.lesson.model_dump(mode="json")
    content["teach_back"]["rubric"] = curriculum.teach_back.model_dump(mode="json")
    return content


def _level_fields(source: LevelSource) -> dict[str, Any]:
    level = source.level
    fields: dict[str, Any] = {
        "folder": source.path.as_posix(),
        "title": level.title,
        "description": level.description,
        "outcomes": list(level.outcomes),
        "certificate": level.certificate.model_dump(mode="json"),
    }
    fields["content_hash"] = content_hash(fields)
    return fields


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def sync_curriculum(session: Session, curriculum: Curriculum) -> SyncReport:
    """Bring the database in line with the files (flushes; the caller commits)."""
    _lock(session)
    report = SyncReport()
    levels = {lv.number: lv for lv in session.scalars(select(Level))}
    for source in curriculum.levels:
        number = source.level.number
        fields = _level_fields(source)
        level = levels.get(number)
        if level is None:
            session.add(Level(number=number, is_active=True, **fields))
            report.levels_created.append(number)
        elif level.content_hash != fields["content_hash"] or not level.is_active:
            for key, value in fields.items():
                setattr(level, key, value)
            level.is_active = True
            report.levels_updated.append(number)
    in_files = {s.level.number for s in curriculum.levels}
    for number, level in levels.items():
        if number not in in_files and level.is_active:
            level.is_active = False
            report.levels_updated.append(number)
    session.flush()

    lessons = {lesson.id: lesson for lesson in session.scalars(select(Lesson))}
    current_hashes = dict(
        session.execute(
            select(LessonVersion.lesson_id, LessonVersion.content_hash).join(
                Lesson,
                (Lesson.id == LessonVersion.lesson_id)
                & (Lesson.current_version == LessonVersion.version),
            )
        ).all()
    )
    seen: set[str] = set()
    for level_source, item in curriculum.lessons():
        lesson_file = item.lesson
        seen.add(lesson_file.id)
        content = lesson_content(item, curriculum)
        digest = content_hash(content)
        place = {
            "level_number": level_source.level.number,
            "position": item.position,
            "source_path": item.path.as_posix(),
        }
        summary = {
            "title": lesson_file.title,
            "minutes": lesson_file.minutes,
            "groups": list(lesson_file.groups),
        }
        lesson = lessons.get(lesson_file.id)
        if lesson is None:
            session.add(
                Lesson(id=lesson_file.id, current_version=1, is_active=True, **place, **summary)
            )
            session.flush()
            session.add(
                LessonVersion(
                    lesson_id=lesson_file.id, version=1, content_hash=digest, content=content
                )
            )
            report.lessons_created.append(lesson_file.id)
            continue
        moved = any(getattr(lesson, k) != v for k, v in place.items()) or not lesson.is_active
        if current_hashes.get(lesson.id) != digest:
            lesson.current_version += 1
            session.add(
                LessonVersion(
                    lesson_id=lesson.id,
                    version=lesson.current_version,
                    content_hash=digest,
                    content=content,
                )
            )
            report.lessons_changed.append(lesson.id)
        elif moved:
            report.lessons_moved.append(lesson.id)
        else:
            report.lessons_unchanged += 1
            continue
        for key, value in {**place, **summary}.items():
            setattr(lesson, key, value)
        lesson.is_active = True
    for lesson_id, lesson in lessons.items():
        if lesson_id not in seen and lesson.is_active:
            lesson.is_active = False
            report.lessons_retired.append(lesson_id)
    session.flush()
    return report
