"""Progress on a lesson: a quiz result or a challenge grade updates it, and the lesson is
completed once the quiz is passed and a challenge is graded at or above its pass mark.
Completing awards the lesson's points once and counts toward the day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.certificates import service as certificates
from app.config import Settings
from app.core.clock import local_day
from app.gamification import ledger as ledger
from app.gamification import streaks
from app.gamification.boards import reseat
from app.learning import activity
from app.models import (
    Lesson,
    LessonProgress,
    Level,
    QuizAttempt,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)


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
        ledger.award(
            session,
            user_id=attempt.user_id,
            kind="quiz_pass",
            points=settings.points_quiz_pass,
            key=f"quiz_pass:{attempt.user_id}:{attempt.lesson_id}",
            day=local_day(now, settings.tz),
            settings=settings,
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
    ref: str,
    settings: Settings,
    now: datetime,
) -> LessonProgress:
    """Called when a submission has been graded (by any grader, a re-grade, or later a
    mentor; `ref` names that grading): the best challenge score is kept, the points follow
    the best passing grade of the kind (a lowered re-grade writes a correction), a failed
    attempt earns the effort point once a lesson a day, and the lesson completes once both
    parts are done."""
    row = touch(session, user_id=user_id, lesson_id=lesson_id, now=now)
    day = local_day(now, settings.tz)
    best = session.scalar(
        select(func.max(Submission.score)).where(
            Submission.user_id == user_id,
            Submission.lesson_id == lesson_id,
            Submission.kind == kind,
            Submission.status == SubmissionStatus.graded,
            Submission.passed.is_(True),
        )
    )
    most = settings.points_challenge_max
    point_kind = "challenge_score"
    if kind == SubmissionKind.teach_back:
        most, point_kind = settings.points_teach_back_max, "teach_back_score"
    else:
        row.challenge_best = max(row.challenge_best or 0.0, score)
        if passed and row.challenge_passed_at is None:
            row.challenge_passed_at = now
    ledger.reconcile(
        session,
        user_id=user_id,
        kind=point_kind,
        lesson_id=lesson_id,
        target=round(most * float(best) / 100) if best is not None else 0,
        ref=ref,
        day=day,
        settings=settings,
        details={"submission": submission_id, "score": float(best or 0)},
    )
    if not passed and settings.points_effort:
        ledger.award(
            session,
            user_id=user_id,
            kind="effort",
            points=settings.points_effort,
            key=f"effort:{user_id}:{lesson_id}:{day.isoformat()}",
            day=day,
            settings=settings,
            lesson_id=lesson_id,
            details={"submission": submission_id},
        )
    _complete_if_earned(session, row=row, settings=settings, now=now, submission_id=submission_id)
    if row.completed_at is not None and kind == SubmissionKind.challenge:
        # a completed lesson's best grade counts toward the level's certificate
        level_number = session.scalar(select(Lesson.level_number).where(Lesson.id == lesson_id))
        if level_number is not None:
            certificates.consider(
                session, user_id=user_id, level_number=level_number, settings=settings, now=now
            )
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
    ledger.award(
        session,
        user_id=row.user_id,
        kind="lesson_complete",
        points=settings.points_lesson_complete,
        key=f"lesson_complete:{row.user_id}:{row.lesson_id}",
        day=local_day(now, settings.tz),
        settings=settings,
        lesson_id=row.lesson_id,
        details={"submission": submission_id} if submission_id is not None else {},
    )
    _complete_level_if_earned(
        session, user_id=row.user_id, lesson_id=row.lesson_id, settings=settings, now=now
    )
    session.flush()


def level_standing(session: Session, user_id: int, level_number: int) -> tuple[int, float]:
    """How many of a level's (active) lessons the learner has completed, and the average of
    their best challenge grades on them."""
    done, average = session.execute(
        select(func.count(), func.coalesce(func.avg(LessonProgress.challenge_best), 0))
        .join(Lesson, Lesson.id == LessonProgress.lesson_id)
        .where(
            LessonProgress.user_id == user_id,
            LessonProgress.completed_at.is_not(None),
            Lesson.level_number == level_number,
            Lesson.is_active.is_(True),
        )
    ).one()
    return int(done), float(average)


def lessons_needed(session: Session, level: Level) -> int:
    """How many lessons complete a level: what its certificate asks for, at most as many
    as it has (0 for a level with no active lessons)."""
    total = (
        session.scalar(
            select(func.count()).where(
                Lesson.level_number == level.number, Lesson.is_active.is_(True)
            )
        )
        or 0
    )
    return min(int(level.certificate.get("lessons_passed", total)), total)


def _complete_level_if_earned(
    session: Session, *, user_id: int, lesson_id: str, settings: Settings, now: datetime
) -> None:
    """A level is completed with as many lessons completed as its certificate asks for:
    its points once, and the learner's level (for the level boards) moves on."""
    level = session.scalar(
        select(Level)
        .join(Lesson, Lesson.level_number == Level.number)
        .where(Lesson.id == lesson_id)
    )
    if level is None:
        return
    done, _average = level_standing(session, user_id, level.number)
    needed = lessons_needed(session, level)
    if needed == 0 or done < needed:
        return
    ledger.award(
        session,
        user_id=user_id,
        kind="level_complete",
        points=settings.points_level_complete,
        key=f"level_complete:{user_id}:{level.number}",
        day=local_day(now, settings.tz),
        settings=settings,
        details={"level": level.number},
    )
    stats = streaks.stats_for(session, user_id)
    top = session.scalar(select(func.max(Level.number)).where(Level.is_active.is_(True))) or 1
    if stats.level <= level.number:
        stats.level = min(level.number + 1, top)
        session.flush()
        reseat(session, [user_id])
