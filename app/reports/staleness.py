"""What a change makes stale in the report rollups (app.reports.rollups), recorded in the
same transaction as the change.

A refresh always rebuilds yesterday and today. A change to an older day (a certificate
issued or revoked, a grade changed by a mentor, a study day or lesson written for the
past, a unit re-hung in the tree) marks that day in `report_state.dirty_from`, and the
next refresh rebuilds from there. A learner who changes seat (unit, group, or role) is
queued in `report_moves` with the seat they leave, and the next refresh moves their own
figures. ORM flushes are watched here; bulk UPDATEs that touch reported columns call
`mark` themselves."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, event, insert, inspect, select, update
from sqlalchemy.orm import Session

from app.config import get_settings
from app.core.clock import local_day
from app.models import (
    LEARNER_ROLES,
    Certificate,
    LessonProgress,
    PointEvent,
    ReportMove,
    ReportState,
    StudyDay,
    Submission,
    Unit,
    User,
    utcnow,
)

EVERYTHING = date(2000, 1, 1)  # a unit re-hung: every day of its subtree moves

# model -> (the columns whose change matters, the column that dates the row)
SEAT = ("unit_id", "group_id", "role")
WATCHED: dict[type, tuple[tuple[str, ...], str]] = {
    User: (("created_at",), "created_at"),
    StudyDay: (("day", "frozen", "active_seconds", "lessons_completed"), "day"),
    LessonProgress: (("completed_at",), "completed_at"),
    Submission: (("score", "status", "graded_at", "kind"), "graded_at"),
    PointEvent: (("kind", "day"), "day"),
    Certificate: (("status", "issued_at", "revoked_at", "level_number"), "issued_at"),
}


def mark(session: Session, day: date) -> None:
    """Make the rollups from `day` on stale (nothing to do before the first build)."""
    state = ReportState.__table__
    session.connection().execute(
        update(state)
        .where(state.c.id == 1, state.c.built_through.is_not(None))
        .values(
            dirty_from=case(
                (state.c.dirty_from.is_(None) | (state.c.dirty_from > day), day),
                else_=state.c.dirty_from,
            ),
            dirty_seq=state.c.dirty_seq + 1,
        )
    )


def mark_moment(session: Session, moment: datetime) -> None:
    """`mark` for the local day of `moment`, when a refresh would not rebuild it anyway."""
    day = _as_day(moment)
    if day is not None and _before_yesterday(day):
        mark(session, day)


def _before_yesterday(day: date) -> bool:
    return day < local_day(utcnow(), get_settings().tz) - timedelta(days=1)


def _queue_move(session: Session, user: User) -> None:
    """Queue a learner whose seat changed, with the seat they leave (once the rollups
    exist: the first build places everyone)."""
    attrs = inspect(user).attrs
    if not any(attrs[name].history.has_changes() for name in SEAT):
        return
    built = session.connection().scalar(
        select(ReportState.built_through).where(ReportState.id == 1)
    )
    if built is None:
        return

    def before(name: str) -> Any:
        history = attrs[name].history
        return history.deleted[0] if history.deleted else getattr(user, name)

    role = before("role")
    session.connection().execute(
        insert(ReportMove.__table__).values(
            user_id=user.id,
            unit_id=before("unit_id"),
            group_id=before("group_id"),
            learner=role in LEARNER_ROLES,
        )
    )


def _as_day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return local_day(value, get_settings().tz)
    return value if isinstance(value, date) else None


def _days(obj: Any, watched: tuple[str, ...], dated_by: str, changed: bool) -> Iterable[date]:
    state = inspect(obj)
    if changed and not any(state.attrs[name].history.has_changes() for name in watched):
        return
    history = state.attrs[dated_by].history
    for value in (*history.unchanged, *history.added, *history.deleted):
        day = _as_day(value)
        if day is not None:
            yield day


def watch() -> None:
    """Watch every session's flushes (once per process: app.db calls this on import)."""
    if not event.contains(Session, "before_flush", _watch):
        event.listen(Session, "before_flush", _watch)


def _watch(session: Session, _context: Any, _instances: Any) -> None:
    days: list[date] = []
    for changed, objects in ((False, session.new), (True, session.dirty), (False, session.deleted)):
        for obj in objects:
            if changed and isinstance(obj, User):
                _queue_move(session, obj)
            if isinstance(obj, Unit):
                if changed and inspect(obj).attrs["parent_id"].history.has_changes():
                    days.append(EVERYTHING)
                continue
            spec = WATCHED.get(type(obj))
            if spec is None:
                continue
            if isinstance(obj, PointEvent) and obj.kind != "level_complete":
                continue
            days.extend(_days(obj, *spec, changed=changed))
    if days and _before_yesterday(min(days)):
        mark(session, min(days))
