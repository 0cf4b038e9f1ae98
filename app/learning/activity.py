"""Study days: active time on lesson pages (from heartbeats), lessons completed per day, the
daily goal and the streak. Every day is an Asia/Ho_Chi_Minh date.

Active time is credited from the gaps between a learner's heartbeats as the server sees
them, never from what a page claims: a beat credits the time since the previous one (at most
one and a half heartbeat intervals), and nothing when the previous beat is more than two
intervals old (a page stops beating when hidden or idle, so the next beat starts afresh).
So a tab left open earns nothing, two tabs earn what one does, and a day is capped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.clock import local_day
from app.gamification import streaks
from app.gamification.ledger import award
from app.models import StudyDay


def study_day(session: Session, user_id: int, day: date) -> StudyDay:
    """The learner's row for `day`, created when missing (safe against a parallel insert)."""
    row = session.get(StudyDay, (user_id, day))
    if row is not None:
        return row
    row = StudyDay(user_id=user_id, day=day, active_seconds=0, lessons_completed=0)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        row = session.get(StudyDay, (user_id, day))
        assert row is not None
    return row


def heartbeat(session: Session, *, user_id: int, settings: Settings, now: datetime) -> StudyDay:
    day = study_day(session, user_id, local_day(now, settings.tz))
    last = day.last_beat_at
    if last is not None:
        gap = (now - last).total_seconds()
        if 0 < gap <= settings.heartbeat_seconds * 2:
            credit = round(min(gap, settings.heartbeat_seconds * 1.5))
            cap = settings.daily_active_cap_minutes * 60
            day.active_seconds = min(cap, day.active_seconds + credit)
    if last is None or now > last:
        day.last_beat_at = now
    if day.goal_met_at is None and day.active_seconds >= settings.daily_goal_minutes * 60:
        first = not day.counts
        day.goal_met_at = now
        session.flush()
        award(
            session,
            user_id=user_id,
            kind="daily_goal",
            points=settings.points_daily_goal,
            key=f"daily_goal:{user_id}:{day.day.isoformat()}",
            day=day.day,
            settings=settings,
        )
        if first:
            streaks.count_day(session, user_id=user_id, day=day.day, settings=settings)
    session.flush()
    return day


def record_completion(session: Session, *, user_id: int, settings: Settings, now: datetime) -> None:
    day = study_day(session, user_id, local_day(now, settings.tz))
    first = not day.counts
    day.lessons_completed += 1
    session.flush()
    if first:
        streaks.count_day(session, user_id=user_id, day=day.day, settings=settings)


@dataclass(frozen=True)
class DailyGoal:
    active_seconds: int
    goal_seconds: int

    @property
    def minutes(self) -> int:
        return self.active_seconds // 60

    @property
    def met(self) -> bool:
        return self.active_seconds >= self.goal_seconds

    @property
    def percent(self) -> int:
        return min(100, self.active_seconds * 100 // max(1, self.goal_seconds))


def daily_goal(session: Session, user_id: int, today: date, settings: Settings) -> DailyGoal:
    row = session.get(StudyDay, (user_id, today))
    return DailyGoal(row.active_seconds if row else 0, settings.daily_goal_minutes * 60)


def history(session: Session, user_id: int, *, today: date, days: int = 60) -> list[StudyDay]:
    """The learner's study days in the last `days` days, newest first."""
    return list(
        session.scalars(
            select(StudyDay)
            .where(
                StudyDay.user_id == user_id,
                StudyDay.day > today - timedelta(days=days),
                StudyDay.day <= today,
            )
            .order_by(StudyDay.day.desc())
        )
    )
