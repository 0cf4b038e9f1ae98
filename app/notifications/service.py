"""In-app notifications: written in the transaction of what they announce (an answer, an
appeal's result, a review of one's work), read from the bell."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models import Notification

PAGE_SIZE = 30


def notify(
    session: Session,
    *,
    user_id: int,
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
) -> Notification:
    note = Notification(
        user_id=user_id, kind=kind, title=title[:200], body=body[:500], link=link[:300]
    )
    session.add(note)
    session.flush()
    return note


def unread_count(session: Session, user_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


def recent(
    session: Session, user_id: int, *, before_id: int | None = None, limit: int = PAGE_SIZE
) -> list[Notification]:
    """The newest first; `before_id` pages back."""
    query = select(Notification).where(Notification.user_id == user_id)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def mark_read(
    session: Session, user_id: int, *, now: datetime, ids: list[int] | None = None
) -> int:
    """Mark the learner's notifications read (all of them, or `ids`); returns how many."""
    query = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    return session.execute(query.values(read_at=now)).rowcount or 0
