"""Progress on a lesson: a quiz result or a challenge grade updates it, and the lesson is
completed once the quiz is passed and a challenge is graded at or above its pass mark.
Completing awards the lesson's points once and counts toward the day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.config import Settings
from app.core.clock import local_day
from app.gamification.ledger import award
from app.learning import activity
from app.models import LessonProgress, QuizAttempt, SubmissionKind


def touch(session: Session, *, user_id: int, lesson_id: str, now: datetime) -> LessonProgress:
    """The learner's progress row for the lesson (created on first activity)."""
    row = session.get(LessonProgress, (user_id, lesson_id))
    if row is None:
        row = LessonProgress(
            user_id=user_id,
            lesson_id=lesson_id,
            quiz_attempts=0,
            submissions=0,
            last_activity_at=now,
        )
        session.add(row)
    row.last_activity_at = now
    return row


def record_quiz(
    session: Session, *, attempt: QuizAttempt, settings: Settings, now: datetime
) -> LessonProgress:
    row = touch(session, user_id=attempt.user_id, lesson_id=attempt.lesson_id, now=now)
    row.quiz_attempts += 1
    row.quiz_best = max(row.quiz_best or 0, attempt.percent or 0)
    if attempt.passed and row.quiz_passed_at is None:
        row.quiz_passed_at = now
        award(
            session,
            user_id=attempt.user_id,
            kind="quiz_pass",
            points=settings.points_quiz_pass,
            key=f"quiz_pass:{attempt.user_id}:{attempt.lesson_id}",
            day=local_day(now, settings.tz),
            lesson_id=attempt.lesson_id,
            details={"attempt": attempt.id, "percent": attempt.percent},
        )
    _complete_if_earned(session, row=row, settings=settings, now=now)
    session.flush()
    return row


def record_grade(
    session: Session,
    *,
    user_id: int,
    lesson_id: str,
    kind: SubmissionKind,
    score: float,
    passed: bool,
    submission_id: int,
    settings: Settings,
    now: datetime,
) -> LessonProgress:
    """Called when a submission has been graded (by any grader, or later by a mentor):
    the best challenge score is kept, and the lesson completes once both parts are done."""
    row = touch(session, user_id=user_id, lesson_id=lesson_id, now=now)
    if kind == SubmissionKind.challenge:
        row.challenge_best = max(row.challenge_best or 0.0, score)
        if passed and row.challenge_passed_at is None:
            row.challenge_passed_at = now
    _complete_if_earned(session, row=row, settings=settings, now=now, submission_id=submission_id)
    return row


def _complete_if_earned(
    session: Session,
    *,
    row: LessonProgress,
    settings: Settings,
    now: datetime,
    submission_id: int | None = None,
) -> None:
    if (
        row.completed_at is not None
        or row.quiz_passed_at is None
        or row.challenge_passed_at is None
    ):
        return
    row.completed_at = now
    activity.record_completion(session, user_id=row.user_id, settings=settings, now=now)
    award(
        session,
        user_id=row.user_id,
        kind="lesson_complete",
        points=settings.points_lesson_complete,
        key=f"lesson_complete:{row.user_id}:{row.lesson_id}",
        day=local_day(now, settings.tz),
        lesson_id=row.lesson_id,
        details={"submission": submission_id} if submission_id is not None else {},
    )
    session.flush()
