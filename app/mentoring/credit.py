"""Mentor credit: the mentor board, and what a person did for others.

The board ranks people by the points of the mentor kinds (`MENTOR_KINDS`: reviews,
accepted answers, featured teach-backs) summed from the ledger over a period (this week,
this month, all time; Asia/Ho_Chi_Minh days, `PointEvent.day`), for everyone or for the
viewer's unit subtree. Only listed people are on it: active learners and mentors, as on
the other boards. Ranks are competition ranks (equal points share a rank); equal points are
listed by account id. The partial index `ix_point_events_mentor_day` holds only mentor
events, so a board reads a few rows even on a national ledger.

"People helped" counts distinct learners, never oneself: the owners of the submissions a
person reviewed, and the askers of the questions they answered (hidden answers do not
count). A featured teach-back is credit for its author, not help given to anyone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, TypedDict

from sqlalchemy import ColumnElement, TextClause, and_, func, select, text, union
from sqlalchemy.orm import Session

from app.gamification import periods
from app.gamification.names import shown
from app.mentoring.mentors import active_count_by_unit
from app.models import (
    LEARNER_ROLES,
    Answer,
    PointEvent,
    Question,
    Review,
    ReviewItem,
    Unit,
    User,
)
from app.models.points import MENTOR_KINDS_SQL

MentorScope = Literal["all", "unit"]
MENTOR_SCOPES: tuple[MentorScope, ...] = ("all", "unit")
MENTOR_SCOPE_LABELS = {"all": "Toàn bộ", "unit": "Đơn vị của tôi"}
TOP = 50
# The partial index's own predicate, written the same way, so PostgreSQL uses the index
# whatever the parameters (a bound IN list cannot be matched to an index predicate).
_MENTOR_EVENT = text(f"point_events.kind IN ({MENTOR_KINDS_SQL})")


@dataclass(frozen=True)
class CreditRow:
    rank: int  # competition rank
    position: int
    user_id: int
    name: str
    unit: str
    points: int
    is_me: bool


@dataclass(frozen=True)
class MentorBoard:
    period: periods.PeriodName
    period_key: str
    period_label: str
    scope: MentorScope
    unit_name: str | None  # the subtree's root for `unit`
    size: int  # people with credit on the board
    top: list[CreditRow]
    me: CreditRow | None  # the viewer, when they have credit on it


def _days(period: periods.PeriodName, today: date) -> periods.Span:
    return periods.span(periods.key_for(period, today))


def board(
    session: Session,
    *,
    viewer_id: int,
    viewer_unit_path: str,
    period: periods.PeriodName,
    scope: MentorScope,
    today: date,
    limit: int = TOP,
) -> MentorBoard:
    span = _days(period, today)
    conds: list[ColumnElement[bool] | TextClause] = [
        _MENTOR_EVENT,
        User.is_active.is_(True),
        User.role.in_(LEARNER_ROLES),
    ]
    if period != "all":
        conds += [PointEvent.day >= span.first, PointEvent.day <= span.last]
    if scope == "unit":
        conds.append(Unit.path.startswith(viewer_unit_path, autoescape=True))
    points = func.sum(PointEvent.points)
    totals = (
        select(PointEvent.user_id.label("user_id"), points.label("points"))
        .join(User, User.id == PointEvent.user_id)
        .join(Unit, Unit.id == User.unit_id)
        .where(*conds)
        .group_by(PointEvent.user_id)
        .having(points > 0)
        .subquery()
    )
    ranked = select(
        totals.c.user_id,
        totals.c.points,
        func.rank().over(order_by=totals.c.points.desc()).label("rank"),
        func.row_number().over(order_by=(totals.c.points.desc(), totals.c.user_id)).label("pos"),
    ).subquery()
    named = (
        select(ranked, User.full_name, User.board_name, Unit.name)
        .join(User, User.id == ranked.c.user_id)
        .join(Unit, Unit.id == User.unit_id)
    )

    def row(r: object) -> CreditRow:
        uid, pts, rank, pos, full_name, choice, unit = tuple(r)  # type: ignore[call-overload]
        seen = shown(full_name, unit, choice, own=uid == viewer_id, local=scope == "unit")
        return CreditRow(int(rank), int(pos), uid, seen.name, seen.unit, int(pts), uid == viewer_id)

    top = [row(r) for r in session.execute(named.order_by(ranked.c.pos).limit(limit))]
    mine = next((r for r in top if r.is_me), None)
    if mine is None:
        found = session.execute(named.where(ranked.c.user_id == viewer_id)).first()
        mine = row(found) if found is not None else None
    size = int(session.scalar(select(func.count()).select_from(totals)) or 0)
    unit_name = None
    if scope == "unit":
        unit_name = session.scalar(select(Unit.name).where(Unit.path == viewer_unit_path))
    return MentorBoard(
        period=period,
        period_key=span.key,
        period_label=span.label,
        scope=scope,
        unit_name=unit_name,
        size=size,
        top=top,
        me=mine,
    )


def people_helped(session: Session, user_id: int) -> int:
    """Distinct learners this person helped (see the module's note); never themself."""
    reviewed = (
        select(ReviewItem.learner_id.label("learner_id"))
        .join(Review, Review.item_id == ReviewItem.id)
        .where(Review.reviewer_id == user_id, ReviewItem.learner_id != user_id)
    )
    answered = (
        select(Question.user_id.label("learner_id"))
        .join(Answer, Answer.question_id == Question.id)
        .where(
            Answer.user_id == user_id,
            Answer.hidden.is_(False),
            Question.user_id != user_id,
        )
    )
    helped = union(reviewed, answered).subquery()  # UNION: distinct already
    return int(session.scalar(select(func.count()).select_from(helped)) or 0)


class CreditSummary(TypedDict):
    people_helped: int
    reviews_done: int
    answers_accepted: int
    mentor_points: int  # all time


def summary(session: Session, user_id: int) -> CreditSummary:
    reviews = session.scalar(
        select(func.count()).select_from(Review).where(Review.reviewer_id == user_id)
    )
    accepted = session.scalar(
        select(func.count())
        .select_from(Answer)
        .where(and_(Answer.user_id == user_id, Answer.accepted.is_(True), Answer.hidden.is_(False)))
    )
    points = session.scalar(
        select(func.coalesce(func.sum(PointEvent.points), 0)).where(
            PointEvent.user_id == user_id,
            _MENTOR_EVENT,
        )
    )
    return CreditSummary(
        people_helped=people_helped(session, user_id),
        reviews_done=int(reviews or 0),
        answers_accepted=int(accepted or 0),
        mentor_points=int(points or 0),
    )


def has_credit(credit: CreditSummary) -> bool:
    return any(value > 0 for value in credit.values())


class ChildMentors(TypedDict):
    unit_id: int
    name: str
    active_mentors: int


class UnitMentors(TypedDict):
    unit_id: int
    active_mentors: int  # in the whole subtree
    by_child: list[ChildMentors]


def unit_mentors(session: Session, unit: Unit) -> UnitMentors:
    """Active mentors in a unit's subtree, and in each child unit's subtree (the caller
    checked the scope). A person counts once, at their own unit."""
    by_path = active_count_by_unit(session, under_path=unit.path)
    children = session.scalars(
        select(Unit)
        .where(Unit.parent_id == unit.id, Unit.is_active.is_(True))
        .order_by(Unit.name, Unit.id)
    ).all()
    return UnitMentors(
        unit_id=unit.id,
        active_mentors=sum(by_path.values()),
        by_child=[
            ChildMentors(
                unit_id=child.id,
                name=child.name,
                active_mentors=sum(n for p, n in by_path.items() if p.startswith(child.path)),
            )
            for child in children
        ],
    )
