"""A learner's path through the levels: what is open, what is done, and today's lesson.

Lessons open in order inside a level; a level opens when the one before it is completed
(as many lessons completed as its certificate asks for), or when an administrator opened it
for the learner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import Forbidden, NotFound
from app.models import Lesson, LessonProgress, LessonVersion, Level, LevelUnlock

Status = Literal["locked", "new", "in_progress", "completed"]


@dataclass
class LessonState:
    lesson: Lesson
    progress: LessonProgress | None
    unlocked: bool

    @property
    def status(self) -> Status:
        if self.progress is not None and self.progress.completed_at is not None:
            return "completed"
        if not self.unlocked:
            return "locked"
        return "in_progress" if self.progress is not None else "new"


@dataclass
class LevelState:
    level: Level
    unlocked: bool
    lessons: list[LessonState] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(s.status == "completed" for s in self.lessons)

    @property
    def total(self) -> int:
        return len(self.lessons)

    @property
    def completed(self) -> bool:
        needed = min(int(self.level.certificate.get("lessons_passed", self.total)), self.total)
        return self.total > 0 and self.done >= needed


@dataclass
class Path:
    levels: list[LevelState]

    def state_of(self, lesson_id: str) -> LessonState | None:
        for level in self.levels:
            for state in level.lessons:
                if state.lesson.id == lesson_id:
                    return state
        return None

    def today(self) -> LessonState | None:
        """The lesson left half-done most recently, else the first open lesson not done."""
        started = [
            s
            for level in self.levels
            for s in level.lessons
            if s.status == "in_progress" and s.progress is not None
        ]
        if started:
            return max(started, key=lambda s: s.progress.last_activity_at)  # type: ignore[union-attr]
        for level in self.levels:
            for state in level.lessons:
                if state.status == "new":
                    return state
        return None

    def next_after(self, lesson_id: str) -> LessonState | None:
        flat = [s for level in self.levels for s in level.lessons]
        for i, state in enumerate(flat):
            if state.lesson.id == lesson_id:
                return flat[i + 1] if i + 1 < len(flat) else None
        return None


def learner_path(session: Session, user_id: int) -> Path:
    levels = session.scalars(
        select(Level).where(Level.is_active.is_(True)).order_by(Level.number)
    ).all()
    lessons = session.scalars(
        select(Lesson)
        .where(Lesson.is_active.is_(True))
        .order_by(Lesson.level_number, Lesson.position)
    ).all()
    progress = {
        p.lesson_id: p
        for p in session.scalars(select(LessonProgress).where(LessonProgress.user_id == user_id))
    }
    opened = set(
        session.scalars(select(LevelUnlock.level_number).where(LevelUnlock.user_id == user_id))
    )
    states: list[LevelState] = []
    previous_completed = True
    for level in levels:
        state = LevelState(level, unlocked=previous_completed or level.number in opened)
        previous_done = True
        for lesson in (ls for ls in lessons if ls.level_number == level.number):
            mine = progress.get(lesson.id)
            state.lessons.append(LessonState(lesson, mine, state.unlocked and previous_done))
            previous_done = mine is not None and mine.completed_at is not None
        states.append(state)
        previous_completed = state.completed
    return Path(states)


def check_open(state: LessonState | None) -> LessonState:
    """404 for a lesson that does not exist, 403 (code `locked`) while it is locked."""
    if state is None:
        raise NotFound("Không tìm thấy bài học.")
    if state.status == "locked":
        raise Forbidden(
            "Bài này chưa mở. Hãy hoàn thành bài trước đó (đạt bài trắc nghiệm và thử thách).",
            code="locked",
        )
    return state


def current_version(session: Session, lesson: Lesson) -> LessonVersion:
    version = session.scalar(
        select(LessonVersion).where(
            LessonVersion.lesson_id == lesson.id,
            LessonVersion.version == lesson.current_version,
        )
    )
    assert version is not None, f"lesson {lesson.id} has no current version"
    return version


def open_lesson(session: Session, user_id: int, lesson_id: str) -> tuple[Lesson, LessonVersion]:
    """The lesson and its current version when it is open for the learner."""
    state = check_open(learner_path(session, user_id).state_of(lesson_id))
    return state.lesson, current_version(session, state.lesson)
