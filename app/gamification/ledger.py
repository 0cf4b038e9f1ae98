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

from sqlalchemy import (
    Boolean,
    Integer,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import upsert_insert
from app.gamification import periods
from app.gamification.boards import mark_moved, seat_select
from app.models import PointEvent, PointTally, User, UserBadge, utcnow

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
    """A learner's tallies and seat read under the lock, before an award."""

    total: int
    week: int
    day: int
    seat: dict[str, Any]  # listed, unit_path, group_id, level: copied onto new tally rows
    badges: frozenset[str]  # held
    earned: int  # what the `earned_for` kind has earned on its lesson (reconcile)
    lessons: int  # lesson_complete events so far


SEAT = ("listed", "unit_path", "group_id", "level")


# The one read an award makes, under the lock: the tallies, the seat, the badges held, and
# (for reconcile) what a kind has earned on a lesson so far.
_LOCK = (
    select(
        PointTally.period,
        PointTally.points,
        *(getattr(PointTally, c) for c in SEAT),
        select(func.aggregate_strings(UserBadge.code, ","))
        .where(UserBadge.user_id == bindparam("user_id"))
        .scalar_subquery()
        .label("badges"),
        select(func.coalesce(func.sum(PointEvent.requested), 0))
        .where(
            PointEvent.user_id == bindparam("user_id"),
            PointEvent.kind == bindparam("kind"),
            PointEvent.lesson_id == bindparam("lesson_id"),
        )
        .scalar_subquery()
        .label("earned"),
        select(func.count())
        .where(PointEvent.user_id == bindparam("user_id"), PointEvent.kind == "lesson_complete")
        .scalar_subquery()
        .label("lessons"),
    )
    .where(
        PointTally.user_id == bindparam("user_id"),
        PointTally.period.in_(bindparam("periods", expanding=True)),
    )
    .with_for_update(of=PointTally)
)
_WRITES: dict[str, tuple[Any, Any, Any]] = {}
PERIODS = 4  # periods.keys_for_day: all time, the week, the month, the day


def _writes(session: Session) -> tuple[Any, Any, Any]:
    """The award's INSERTs for this session's database, built once (cached compiles): the
    event; the tallies of its day's periods, one statement for the four rows (each row's
    period and listed flag are parameters, so the statement's shape never changes); the
    first tally row, seated."""
    name = session.get_bind().dialect.name
    if name not in _WRITES:
        insert_ = upsert_insert(session)
        events, tallies = PointEvent.__table__, PointTally.__table__
        rows = union_all(
            *(
                select(
                    bindparam(f"period_{i}", type_=String).label("period"),
                    bindparam(f"listed_{i}", type_=Boolean).label("listed"),
                )
                for i in range(PERIODS)
            )
        ).subquery()
        tally = insert_(tallies).from_select(
            ["period", "user_id", "points", *SEAT],
            select(
                rows.c.period,
                bindparam("user_id", type_=Integer),
                bindparam("points", type_=Integer),
                rows.c.listed,
                *(bindparam(c, type_=tallies.c[c].type) for c in SEAT[1:]),
            ).where(true()),  # SQLite: a WHERE before ON CONFLICT
        )
        seat = seat_select().where(User.id == bindparam("user_id")).subquery()
        _WRITES[name] = (
            insert_(events)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(events.c.id),
            tally.on_conflict_do_update(
                index_elements=["period", "user_id"],
                set_={"points": tallies.c.points + tally.excluded.points},
            ),
            insert_(tallies)
            .from_select(
                ["period", "user_id", "points", *SEAT],
                select(
                    literal(periods.ALL), seat.c.user_id, literal(0), *(seat.c[c] for c in SEAT)
                ).where(seat.c.user_id == bindparam("user_id")),  # SQLite: a WHERE before ON
            )
            .on_conflict_do_nothing(),
        )
    return _WRITES[name]


def lock_learner(
    session: Session, user_id: int, day: date, earned_for: tuple[str, str] | None = None
) -> Standing:
    """Lock the learner's all-time tally row (awards for one learner are serialised: the
    daily cap and reconcile's difference are computed under this lock) and read, in one
    statement, what an award needs. The row is created, seated, on the first award."""
    all_key, week, _, day_key = periods.keys_for_day(day)
    kind, lesson_id = earned_for or ("", "")
    params = {
        "user_id": user_id,
        "periods": [all_key, week, day_key],
        "kind": kind,
        "lesson_id": lesson_id,
    }
    found = {row.period: row for row in session.execute(_LOCK, params)}
    if all_key not in found:
        session.connection().execute(_writes(session)[2], {"user_id": user_id})
        found = {row.period: row for row in session.execute(_LOCK, params)}
    mine = found[all_key]
    return Standing(
        mine.points,
        found[week].points if week in found else 0,
        found[day_key].points if day_key in found else 0,
        {c: getattr(mine, c) for c in SEAT},
        frozenset(filter(None, (mine.badges or "").split(","))),
        int(mine.earned or 0),
        int(mine.lessons or 0),
    )


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
    transaction. Three statements in the common case: the lock, the event (a key seen
    before inserts nothing), the tallies."""
    if kind not in KINDS:
        raise ValueError(f"unknown point kind {kind!r}")
    return _write(
        session,
        lock_learner(session, user_id, day),
        user_id=user_id,
        kind=kind,
        points=points,
        key=key,
        day=day,
        settings=settings,
        lesson_id=lesson_id,
        details=details,
    )


def _write(
    session: Session,
    before: Standing,
    *,
    user_id: int,
    kind: str,
    points: int,
    key: str,
    day: date,
    settings: Settings,
    lesson_id: str | None,
    details: dict[str, Any] | None,
) -> PointEvent | None:
    """The event, the tallies, then the badges and the league, after the lock."""
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
    add_event, add_tallies, _ = _writes(session)
    connection = session.connection()
    event_id = connection.execute(add_event, values).scalar()
    if event_id is None:  # awarded before (a retry, a replay or a parallel process)
        return None
    if granted:
        # a day's tally is for the daily cap only: not listed, not in the board indexes
        tally_rows: dict[str, Any] = {}
        for i, k in enumerate(periods.keys_for_day(day)):
            tally_rows[f"period_{i}"] = k
            tally_rows[f"listed_{i}"] = before.seat["listed"] and not periods.is_day(k)
        connection.execute(
            add_tallies,
            {"user_id": user_id, "points": granted, **before.seat, **tally_rows},
        )
    mark_moved(session, user_id)
    event = PointEvent(id=event_id, **values)  # as stored (not added to the session)
    # badges and leagues read the ledger; the ledger triggers them
    from app.gamification import badges, leagues

    if granted > 0 and before.week <= 0:  # the week's first points: join its league
        leagues.ensure_member(session, user_id=user_id, day=day, settings=settings)
    facts = badges.Facts(
        total=before.total + granted,
        lessons=before.lessons + (kind == "lesson_complete"),
    )
    badges.on_event(session, event, settings, facts=facts, held=before.badges)
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
    if kind not in KINDS:
        raise ValueError(f"unknown point kind {kind!r}")
    before = lock_learner(session, user_id, day, earned_for=(kind, lesson_id))
    delta = target - before.earned
    if delta == 0:
        return None
    extra = {"target": target, **({"correction": True} if delta < 0 else {})}
    return _write(
        session,
        before,
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
        sums = select(PointEvent.user_id, func.sum(PointEvent.points).label("points")).group_by(
            PointEvent.user_id
        )
        if key != periods.ALL:
            sums = sums.where(PointEvent.day >= span.first, PointEvent.day <= span.last)
        totals = sums.subquery()
        seats = seat_select().subquery()
        listed = literal(False) if periods.is_day(key) else seats.c.listed
        rows = select(
            literal(key),
            totals.c.user_id,
            totals.c.points,
            listed,
            *(seats.c[c] for c in SEAT[1:]),
        ).join(seats, seats.c.user_id == totals.c.user_id)
        result = session.execute(
            insert(PointTally).from_select(["period", "user_id", "points", *SEAT], rows),
            execution_options={"preserve_rowcount": True},
        )
        written += max(result.rowcount or 0, 0)
    session.flush()
    return written
