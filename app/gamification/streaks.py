"""Streaks: consecutive days that count (a lesson completed or the daily goal met, in
Asia/Ho_Chi_Minh days), protected by freezes.

A freeze is earned at every 7th day of a streak (at most `streak_freeze_max` held) and is
used by itself on a missed day: the day shows as frozen and the streak goes on (without
growing). With no freeze left, a missed day ends the streak. Missed days are settled when
the learner's next day counts; what pages show is the same
settlement worked out on the fly, so it never depends on when that ran."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import LearnerStats, StudyDay

MILESTONES = (7, 30, 100)


def stats_for(session: Session, user_id: int) -> LearnerStats:
    """The learner's stats row, created when missing (safe against a parallel insert)."""
    row = session.get(LearnerStats, user_id)
    if row is not None:
        return row
    row = LearnerStats(user_id=user_id)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        row = session.get(LearnerStats, user_id)
        assert row is not None
    return row


@dataclass(frozen=True)
class StreakState:
    streak: int
    freezes: int
    freezes_used: int
    started: date | None
    last_counted: date | None
    settled_through: date | None
    frozen_days: tuple[date, ...] = field(default=())

    @classmethod
    def of(cls, row: LearnerStats | None) -> StreakState:
        if row is None:
            return cls(0, 0, 0, None, None, None)
        return cls(
            row.streak,
            row.freezes,
            row.freezes_used,
            row.streak_started,
            row.last_counted,
            row.settled_through,
        )


def settle(state: StreakState, today: date) -> StreakState:
    """Work through the days before `today` that did not count: each uses a freeze while
    a streak runs and freezes are held, else the streak ends."""
    if state.settled_through is None or state.settled_through >= today - timedelta(days=1):
        return state
    streak, freezes, used, started = state.streak, state.freezes, state.freezes_used, state.started
    frozen: list[date] = []
    day = state.settled_through + timedelta(days=1)
    while day < today and streak > 0:
        if day != state.last_counted:
            if freezes > 0:
                freezes -= 1
                used += 1
                frozen.append(day)
            else:
                streak, started = 0, None
        day += timedelta(days=1)
    return replace(
        state,
        streak=streak,
        freezes=freezes,
        freezes_used=used,
        started=started,
        settled_through=today - timedelta(days=1),
        frozen_days=tuple(frozen),
    )


@dataclass(frozen=True)
class StreakView:
    days: int
    counted_today: bool
    freezes: int
    freezes_max: int
    longest: int
    next_freeze_in: int  # counted days until the next freeze (0 when the hand is full)

    @property
    def at_risk(self) -> bool:
        """A streak runs, today has not counted yet and no freeze would save it."""
        return self.days > 0 and not self.counted_today and self.freezes == 0


def view(session: Session, user_id: int, today: date, settings: Settings) -> StreakView:
    row = session.get(LearnerStats, user_id)
    state = settle(StreakState.of(row), today)
    every = settings.streak_freeze_every
    full = state.freezes >= settings.streak_freeze_max
    return StreakView(
        days=state.streak,
        counted_today=state.last_counted == today,
        freezes=state.freezes,
        freezes_max=settings.streak_freeze_max,
        longest=max(row.longest_streak if row else 0, state.streak),
        next_freeze_in=0 if full else every - state.streak % every,
    )


def _persist(session: Session, row: LearnerStats, state: StreakState) -> None:
    row.streak = state.streak
    row.freezes = state.freezes
    row.freezes_used = state.freezes_used
    row.streak_started = state.started
    row.last_counted = state.last_counted
    row.settled_through = state.settled_through
    for day in state.frozen_days:
        from app.learning.activity import study_day  # the day rows live with activity

        study_day(session, row.user_id, day).frozen = True


def count_day(session: Session, *, user_id: int, day: date, settings: Settings) -> int | None:
    """`day` now counts for the learner (called when it first does): settle the missed
    days before it, extend the streak, earn a freeze every 7th day and points at the
    milestones. Returns the new streak, or None when the day had already counted."""
    from app.gamification.ledger import award

    row = stats_for(session, user_id)
    state = settle(StreakState.of(row), day)
    if state.last_counted is not None and state.last_counted >= day:
        _persist(session, row, state)
        return None
    streak = state.streak + 1
    freezes = state.freezes
    if streak % settings.streak_freeze_every == 0 and freezes < settings.streak_freeze_max:
        freezes += 1
    started = state.started or day
    state = replace(
        state,
        streak=streak,
        freezes=freezes,
        started=started,
        last_counted=day,
        settled_through=day - timedelta(days=1),
    )
    _persist(session, row, state)
    row.longest_streak = max(row.longest_streak, streak)
    session.flush()
    if streak in MILESTONES:
        award(
            session,
            user_id=user_id,
            kind="streak_milestone",
            points=settings.streak_milestone_points(streak),
            key=f"streak_milestone:{user_id}:{started.isoformat()}:{streak}",
            day=day,
            settings=settings,
            details={"streak": streak},
        )
    return streak


def week_days_counted(session: Session, user_id: int, day: date) -> int:
    """How many days of `day`'s Monday-to-Sunday week counted (frozen days do not)."""
    monday = day - timedelta(days=day.weekday())
    rows = session.scalars(
        select(StudyDay).where(
            StudyDay.user_id == user_id,
            StudyDay.day >= monday,
            StudyDay.day <= monday + timedelta(days=6),
        )
    )
    return sum(1 for r in rows if r.counts)
