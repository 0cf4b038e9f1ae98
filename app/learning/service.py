"""The learner's day and progress as one view each, shared by the API and the pages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.config import Settings
from app.core.clock import local_day
from app.gamification import streaks
from app.gamification.boards import BoardStore
from app.gamification.ledger import total_points
from app.gamification.service import streak_view, unit_rank
from app.learning import activity, path
from app.learning.schemas import (
    DayOut,
    GoalOut,
    LessonProgressOut,
    LevelProgressOut,
    ProgressOut,
    RankOut,
    TodayOut,
    lesson_card,
)
from app.models import Unit, User


def today_view(
    session: Session, store: BoardStore, *, user: User, settings: Settings, now: datetime
) -> TodayOut:
    today = local_day(now, settings.tz)
    learner = path.learner_path(session, user.id)
    state = learner.today()
    card = None
    if state is not None:
        level = next(lv for lv in learner.levels if lv.level.number == state.lesson.level_number)
        card = lesson_card(state, level.level.title, level.total)
    goal = activity.daily_goal(session, user.id, today, settings)
    unit = session.get(Unit, user.unit_id)
    rank, of = unit_rank(session, store, user)
    streak = streak_view(session, user.id, today, settings)
    return TodayOut(
        date=today,
        lesson=card,
        streak=streak.days,
        streak_detail=streak,
        goal=GoalOut(
            active_minutes=goal.minutes,
            goal_minutes=settings.daily_goal_minutes,
            percent=goal.percent,
            met=goal.met,
        ),
        points=total_points(session, user.id),
        rank=RankOut(rank=rank, of=of, unit=unit.name if unit else ""),
    )


def progress_view(
    session: Session, *, user: User, settings: Settings, now: datetime, days: int = 60
) -> ProgressOut:
    today = local_day(now, settings.tz)
    learner = path.learner_path(session, user.id)
    levels = []
    for level in learner.levels:
        lessons = []
        for state in level.lessons:
            p = state.progress
            lessons.append(
                LessonProgressOut(
                    id=state.lesson.id,
                    title=state.lesson.title,
                    position=state.lesson.position,
                    status=state.status,
                    quiz_attempts=p.quiz_attempts if p else 0,
                    quiz_best=p.quiz_best if p else None,
                    submissions=p.submissions if p else 0,
                    challenge_best=p.challenge_best if p else None,
                    last_activity_at=p.last_activity_at if p else None,
                    completed_at=p.completed_at if p else None,
                )
            )
        levels.append(
            LevelProgressOut(
                number=level.level.number,
                title=level.level.title,
                unlocked=level.unlocked,
                completed=level.completed,
                done=level.done,
                total=level.total,
                lessons=lessons,
            )
        )
    return ProgressOut(
        streak=streaks.view(session, user.id, today, settings).days,
        points=total_points(session, user.id),
        levels=levels,
        days=[
            DayOut(
                day=d.day,
                active_minutes=d.active_seconds // 60,
                lessons_completed=d.lessons_completed,
                counted=d.counts,
                frozen=d.frozen,
            )
            for d in activity.history(session, user.id, today=today, days=days)
        ],
    )
