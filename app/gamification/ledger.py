"""Award points into the append-only ledger, and keep the per-period tallies with it.

Every event carries an idempotency key naming what earned it (`quiz_pass:42:b1-01`), so a
retried job, a re-graded submission or a replayed request never counts twice. A learner's
awards are serialised on their all-time tally row, which is also where the daily cap is
checked: positive awards beyond `points_daily_cap` for the day are cut (the event keeps
what the rule asked for in `requested`). Scores that can change later (a challenge's best
grade, a teach-back's) are kept in step by `reconcile`, which writes the difference as a
correcting event. Nothing here commits: the caller's transaction holds the event, the
tallies, badges and streak together; boards in Redis follow after the commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import upsert_insert
from app.gamification import periods
from app.gamification.boards import mark_moved
from app.models import PointEvent, PointTally, utcnow

# what each kind of event is for (the values are settings: see docs/gamification.md)
KINDS = {
    "quiz_pass": "Vượt qua câu hỏi ôn tập",
    "lesson_complete": "Hoàn thành bài học",
    "challenge_score": "Điểm thử thách",
    "teach_back_score": "Điểm giảng lại (Feynman)",
    "effort": "Điểm cố gắng",
    "daily_goal": "Đủ 15 phút mỗi ngày",
    "streak_milestone": "Mốc chuỗi ngày học",
    "level_complete": "Hoàn thành bậc",
    "league_promoted": "Thăng hạng giải đấu",
    "mentor_review": "Chấm bài giúp học viên",
    "answer_accepted": "Câu trả lời được chấp nhận",
    "teach_back_featured": "Bài giảng lại được chọn",
}
UNCAPPED = frozenset({"league_promoted"})  # earned once a week at most, from other points


@dataclass(frozen=True)
class Standing:
    """A learner's tallies read under the lock, before an award."""

    total: int
    week: int
    day: int


def lock_learner(session: Session, user_id: int, day: date) -> Standing:
    """Lock the learner's all-time tally row (awards for one learner are serialised: the
    daily cap is checked under this lock) and read the tallies an award needs. The row is
    created on the learner's first award."""
    all_key, week, _, day_key = periods.keys_for_day(day)
    query = (
        select(PointTally.period, PointTally.points)
        .where(PointTally.user_id == user_id, PointTally.period.in_([all_key, week, day_key]))
        .with_for_update()
    )
    found = {period: pts for period, pts in session.execute(query)}
    if all_key not in found:
        session.execute(
            upsert_insert(session)(PointTally)
            .values(period=all_key, user_id=user_id, points=0)
            .on_conflict_do_nothing()
        )
        found = {period: pts for period, pts in session.execute(query)}
    return Standing(found.get(all_key, 0), found.get(week, 0), found.get(day_key, 0))


def award(
    session: Session,
    *,
    user_id: int,
    kind: str,
    points: int,
    key: str,
    day: date,
    settings: Settings,
    lesson_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> PointEvent | None:
    """Add an event unless one with `key` exists; returns the new event or None. Badges
    the event earns and the learner's place in this week's league follow in the same
    transaction. Four statements in the common case: the key check, the lock, the event,
    the tallies."""
    if kind not in KINDS:
        raise ValueError(f"unknown point kind {kind!r}")
    if session.scalar(select(PointEvent.id).where(PointEvent.idempotency_key == key)):
        return None
    before = lock_learner(session, user_id, day)
    granted = points
    if points > 0 and kind not in UNCAPPED:
        granted = max(0, min(points, settings.points_daily_cap - before.day))
    values = {
        "user_id": user_id,
        "kind": kind,
        "points": granted,
        "requested": points,
        "idempotency_key": key,
        "day": day,
        "lesson_id": lesson_id,
        "details": {**(details or {}), **({"capped": True} if granted != points else {})},
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    event_id = session.scalar(
        upsert_insert(session)(PointEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(PointEvent.id)
    )
    if event_id is None:  # another process awarded the same key a moment ago
        return None
    if granted:
        stmt = upsert_insert(session)(PointTally).values(
            [
                {"period": k, "user_id": user_id, "points": granted}
                for k in periods.keys_for_day(day)
            ]
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["period", "user_id"],
                set_={"points": PointTally.points + stmt.excluded.points},
            )
        )
    mark_moved(session, user_id)
    event = PointEvent(id=event_id, **values)  # as stored (not added to the session)
    # badges and leagues read the ledger; the ledger triggers them
    from app.gamification import badges, leagues

    if granted > 0 and before.week <= 0:  # the week's first points: join its league
        leagues.ensure_member(session, user_id=user_id, day=day, settings=settings)
    badges.on_event(session, event, settings, total=before.total + granted)
    return event


def reconcile(
    session: Session,
    *,
    user_id: int,
    kind: str,
    lesson_id: str,
    target: int,
    ref: str,
    day: date,
    settings: Settings,
    details: dict[str, Any] | None = None,
) -> PointEvent | None:
    """Bring what `kind` has earned on a lesson to `target` (e.g. the points of the best
    challenge grade): writes the difference as an event keyed by `ref` (the grading that
    changed it), so a higher resubmission adds, a lowered re-grade corrects, and the
    same grading seen twice writes nothing."""
    earned = session.scalar(
        select(func.coalesce(func.sum(PointEvent.requested), 0)).where(
            PointEvent.user_id == user_id,
            PointEvent.kind == kind,
            PointEvent.lesson_id == lesson_id,
        )
    )
    delta = target - int(earned or 0)
    if delta == 0:
        return None
    extra = {"target": target, **({"correction": True} if delta < 0 else {})}
    return award(
        session,
        user_id=user_id,
        kind=kind,
        points=delta,
        key=f"{kind}:{user_id}:{lesson_id}:{ref}",
        day=day,
        settings=settings,
        lesson_id=lesson_id,
        details={**(details or {}), **extra},
    )


def total_points(session: Session, user_id: int, period: str = periods.ALL) -> int:
    total = session.scalar(
        select(PointTally.points).where(PointTally.period == period, PointTally.user_id == user_id)
    )
    return int(total or 0)


def ledger_total(session: Session, user_id: int) -> int:
    """The sum of the ledger itself (what the tallies must equal)."""
    total = session.scalar(
        select(func.coalesce(func.sum(PointEvent.points), 0)).where(PointEvent.user_id == user_id)
    )
    return int(total or 0)


def rebuild_tallies(session: Session, period_keys: list[str]) -> int:
    """Recompute these periods' tallies from the ledger (the ledger is the truth; a tally
    is its sum over the period's days). Returns the rows written."""
    written = 0
    for key in period_keys:
        span = periods.span(key)
        session.execute(delete(PointTally).where(PointTally.period == key))
        events = select(
            literal(key).label("period"),
            PointEvent.user_id,
            func.sum(PointEvent.points).label("points"),
        ).group_by(PointEvent.user_id)
        if key != periods.ALL:
            events = events.where(PointEvent.day >= span.first, PointEvent.day <= span.last)
        result = session.execute(
            insert(PointTally).from_select(["period", "user_id", "points"], events),
            execution_options={"preserve_rowcount": True},
        )
        written += max(result.rowcount or 0, 0)
    session.flush()
    return written
