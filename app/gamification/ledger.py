"""Award points into the append-only ledger and read totals from it.

Every event carries an idempotency key naming what earned it (e.g. `quiz_pass:42:b1-01…`),
so a retried job, a re-graded submission or a replayed request never counts twice."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import PointEvent, Role, Unit, User


def award(
    session: Session,
    *,
    user_id: int,
    kind: str,
    points: int,
    key: str,
    day: date,
    lesson_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> PointEvent | None:
    """Add an event unless one with `key` exists; returns the new event or None."""
    if session.scalar(select(PointEvent.id).where(PointEvent.idempotency_key == key)):
        return None
    event = PointEvent(
        user_id=user_id,
        kind=kind,
        points=points,
        idempotency_key=key,
        day=day,
        lesson_id=lesson_id,
        details=details or {},
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:  # another process awarded the same key a moment ago
        return None
    return event


def total_points(session: Session, user_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(PointEvent.points), 0)).where(PointEvent.user_id == user_id)
    )
    return int(total or 0)


def rank_in_unit(session: Session, user: User) -> tuple[int, int]:
    """(rank, learners) of `user` by total points among the active learners of their own
    unit; equal totals share a rank."""
    totals = (
        select(User.id.label("user_id"), func.coalesce(func.sum(PointEvent.points), 0).label("p"))
        .outerjoin(PointEvent, PointEvent.user_id == User.id)
        .where(User.unit_id == user.unit_id, User.is_active.is_(True))
        .where(User.role.in_([Role.learner, Role.mentor]) | (User.id == user.id))
        .group_by(User.id)
        .subquery()
    )
    mine = select(totals.c.p).where(totals.c.user_id == user.id).scalar_subquery()
    above, count = session.execute(
        select(
            func.count().filter(totals.c.p > mine),
            func.count(),
        ).select_from(totals)
    ).one()
    return int(above) + 1, int(count)


def unit_name(session: Session, unit_id: int) -> str:
    return session.scalar(select(Unit.name).where(Unit.id == unit_id)) or ""
