"""A learner's work on lessons: quiz attempts, challenge and teach-back submissions, progress
per lesson, active time per day, and levels an administrator unlocked."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin
from app.models.orgs import enum_column


class QuizAttempt(IdMixin, TimestampMixin, Base):
    """One draw of questions from a lesson's pool; answered once (`submitted_at`)."""

    __tablename__ = "quiz_attempts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id", ondelete="RESTRICT"))
    lesson_version_id: Mapped[int] = mapped_column(
        ForeignKey("lesson_versions.id", ondelete="RESTRICT")
    )
    day: Mapped[date] = mapped_column()
    # [{"id": "q3", "order": [2, 0, 1]}]: the questions in display order, and for each the
    # original index of the option shown at each position (None for true/false)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    correct: Mapped[int | None] = mapped_column()
    percent: Mapped[int | None] = mapped_column()
    passed: Mapped[bool | None] = mapped_column()
    submitted_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_quiz_attempts_user_lesson", "user_id", "lesson_id", "day"),)


class SubmissionKind(enum.StrEnum):
    challenge = "challenge"
    teach_back = "teach_back"


class SubmissionStatus(enum.StrEnum):
    queued = "queued"
    grading = "grading"
    graded = "graded"
    failed = "failed"


class Submission(IdMixin, TimestampMixin, Base):
    """A challenge or teach-back answer, graded per criterion of the version it answered."""

    __tablename__ = "submissions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id", ondelete="RESTRICT"))
    lesson_version_id: Mapped[int] = mapped_column(
        ForeignKey("lesson_versions.id", ondelete="RESTRICT")
    )
    kind: Mapped[SubmissionKind] = mapped_column(enum_column(SubmissionKind, 20))
    status: Mapped[SubmissionStatus] = mapped_column(
        enum_column(SubmissionStatus, 20), default=SubmissionStatus.queued
    )
    client_id: Mapped[str] = mapped_column(String(64))  # the page's draft id: one send per draft
    day: Mapped[date] = mapped_column()
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    image_name: Mapped[str | None] = mapped_column(String(100))
    score: Mapped[float | None] = mapped_column()
    passed: Mapped[bool | None] = mapped_column()
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    grader: Mapped[str | None] = mapped_column(String(40))
    graded_at: Mapped[datetime | None] = mapped_column()
    # grading job state: the row is the job (queued → grading → graded | failed)
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime | None] = mapped_column()  # not before (retry backoff)
    dispatched_at: Mapped[datetime | None] = mapped_column()  # last handed to the engine
    lease_until: Mapped[datetime | None] = mapped_column()  # a worker holds it until then
    last_error: Mapped[str | None] = mapped_column(String(300))
    # what the graders found
    confidence: Mapped[float | None] = mapped_column()
    provisional: Mapped[bool] = mapped_column(default=False)  # graded offline, LLM to re-grade
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    needs_review: Mapped[bool] = mapped_column(default=False)  # for the mentor queue
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)  # SimHash of the text
    share_consent: Mapped[bool] = mapped_column(default=False)  # a teach-back may be featured

    __table_args__ = (
        UniqueConstraint("user_id", "client_id"),
        Index("ix_submissions_user_lesson_day", "user_id", "lesson_id", "kind", "day"),
        Index("ix_submissions_status_created", "status", "created_at"),
        Index("ix_submissions_version_sha", "lesson_version_id", "kind", "text_sha256"),
        Index("ix_submissions_lesson_kind_id", "lesson_id", "kind", "id"),  # near-duplicates
        # the report rollups: challenge grades in a range, read from the index alone
        Index(
            "ix_submissions_challenge_graded",
            "graded_at",
            "user_id",
            "score",
            postgresql_where=sa.text("kind = 'challenge' AND status = 'graded'"),
            sqlite_where=sa.text("kind = 'challenge' AND status = 'graded'"),
        ),
    )


class LessonProgress(TimestampMixin, Base):
    """Where a learner stands on one lesson; completed = quiz passed and challenge graded at
    or above the pass mark."""

    __tablename__ = "lesson_progress"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    lesson_id: Mapped[str] = mapped_column(
        ForeignKey("lessons.id", ondelete="RESTRICT"), primary_key=True
    )
    quiz_attempts: Mapped[int] = mapped_column(default=0)
    quiz_best: Mapped[int | None] = mapped_column()
    quiz_passed_at: Mapped[datetime | None] = mapped_column()
    submissions: Mapped[int] = mapped_column(default=0)
    challenge_best: Mapped[float | None] = mapped_column()
    challenge_passed_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    last_activity_at: Mapped[datetime] = mapped_column()

    __table_args__ = (
        Index("ix_lesson_progress_user_activity", "user_id", "last_activity_at"),
        Index("ix_lesson_progress_completed", "completed_at", "user_id"),  # reports
    )


class StudyDay(TimestampMixin, Base):
    """A learner's day (Asia/Ho_Chi_Minh): active seconds on lesson pages and lessons done."""

    __tablename__ = "study_days"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    active_seconds: Mapped[int] = mapped_column(default=0)
    lessons_completed: Mapped[int] = mapped_column(default=0)
    last_beat_at: Mapped[datetime | None] = mapped_column()
    goal_met_at: Mapped[datetime | None] = mapped_column()
    frozen: Mapped[bool] = mapped_column(default=False)  # missed, kept by a streak freeze

    __table_args__ = (Index("ix_study_days_day", "day", "user_id"),)  # reports: who was active

    @property
    def counts(self) -> bool:
        """A day counts toward the streak: a lesson completed or the daily goal met."""
        return self.lessons_completed > 0 or self.goal_met_at is not None


class LevelUnlock(TimestampMixin, Base):
    """A level an administrator opened for a learner before the previous one was done."""

    __tablename__ = "level_unlocks"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    level_number: Mapped[int] = mapped_column(
        ForeignKey("levels.number", ondelete="RESTRICT"), primary_key=True
    )
    unlocked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class FinalTestAttempt(IdMixin, TimestampMixin, Base):
    """One sitting of a level's final test: questions drawn from the quizzes of the level's
    lessons, answered once before `deadline_at`."""

    __tablename__ = "final_test_attempts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    level_number: Mapped[int] = mapped_column(ForeignKey("levels.number", ondelete="RESTRICT"))
    day: Mapped[date] = mapped_column()
    # [{"key": "b1-01:q3", "version_id": 12, "id": "q3", "order": [2, 0, 1]}]
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    deadline_at: Mapped[datetime] = mapped_column()
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    correct: Mapped[int | None] = mapped_column()
    percent: Mapped[int | None] = mapped_column()
    passed: Mapped[bool | None] = mapped_column()
    submitted_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_final_test_attempts_user_level", "user_id", "level_number"),)
