"""Individual leaderboards: a period (all time, this week, this month) and a scope
(everyone, a unit's subtree, a learner group, a level).

On a board: active learners and mentors with more than 0 points in the period, ordered by
points (most first) and, on equal points, by account id, so every store lists the same
order. A rank is the competition rank (1 + how many have strictly more points: equal points
share a rank). Two stores answer the same questions: `SqlBoards` reads the tallies kept with
the ledger; `RedisBoards` (app.gamification.redis_boards) reads sorted sets kept in step
with them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from app.core.errors import Forbidden, NotFound
from app.gamification import periods
from app.models import LearnerGroup, LearnerStats, Level, PointTally, Role, Unit, User

ScopeName = Literal["all", "unit", "group", "level"]
SCOPE_NAMES: tuple[ScopeName, ...] = ("all", "unit", "group", "level")
SCOPE_LABELS = {"all": "Toàn bộ", "unit": "Đơn vị", "group": "Nhóm", "level": "Bậc"}
BOARD_ROLES = (Role.learner, Role.mentor)
TOP = 50
NEIGHBOURS = 2


@dataclass(frozen=True)
class Board:
    period: str  # a period key: all, 2026-W48, 2026-11
    scope: ScopeName
    scope_id: int | None = None  # unit id, group id or level number
    unit_path: str = ""  # for unit boards

    @property
    def redis_suffix(self) -> str:
        if self.scope == "all":
            return "all"
        return {"unit": "u", "group": "g", "level": "l"}[self.scope] + str(self.scope_id)


@dataclass(frozen=True)
class Entry:
    user_id: int
    points: int
    position: int  # 1-based place in the board's order
    rank: int  # competition rank


class BoardStore(Protocol):
    def top(self, session: Session, board: Board, limit: int = TOP) -> list[Entry]: ...

    def entry(self, session: Session, board: Board, user_id: int) -> Entry | None: ...

    def around(self, session: Session, board: Board, entry: Entry, k: int) -> list[Entry]: ...

    def size(self, session: Session, board: Board) -> int: ...


def mark_moved(session: Session, *user_ids: int) -> None:
    """These learners' points or seats (unit, group, level, active) changed in this
    transaction: Redis boards re-read them after the commit (app.gamification.redis_boards)."""
    session.info.setdefault("boards_touched", set()).update(user_ids)


def level_of(session: Session, user_id: int) -> int:
    return session.scalar(select(LearnerStats.level).where(LearnerStats.user_id == user_id)) or 1


def resolve(
    session: Session,
    user: User,
    *,
    scope: ScopeName,
    period: periods.PeriodName,
    today: date,
    unit_id: int | None = None,
) -> Board:
    """The board a learner asks for. `unit` boards are the learner's own unit or one of
    its ancestors (a commune's learner may look at the commune, the province...)."""
    key = periods.key_for(period, today)
    if scope == "all":
        return Board(key, "all")
    if scope == "group":
        if user.group_id is None:
            raise NotFound("Bạn chưa thuộc nhóm học viên nào.", code="no_group")
        return Board(key, "group", user.group_id)
    if scope == "level":
        return Board(key, "level", level_of(session, user.id))
    own = session.get(Unit, user.unit_id)
    assert own is not None
    target = own if unit_id is None else session.get(Unit, unit_id)
    if target is None or not own.path.startswith(target.path):
        raise Forbidden("Bạn chỉ xem được bảng xếp hạng của đơn vị mình và đơn vị cấp trên.")
    return Board(key, "unit", target.id, target.path)


def board_title(session: Session, board: Board) -> str:
    if board.scope == "all":
        return "Toàn bộ học viên"
    if board.scope == "unit":
        unit = session.get(Unit, board.scope_id)
        return unit.name if unit else ""
    if board.scope == "group":
        group = session.get(LearnerGroup, board.scope_id)
        return group.name if group else ""
    level = session.get(Level, board.scope_id)
    return f"Bậc {board.scope_id}" + (f": {level.title}" if level else "")


class SqlBoards:
    """Boards read from `point_tallies` (index on period, points, user)."""

    def _members(self, board: Board) -> Select:  # type: ignore[type-arg]
        q = (
            select(PointTally.user_id, PointTally.points)
            .join(User, User.id == PointTally.user_id)
            .where(
                PointTally.period == board.period,
                PointTally.points > 0,
                User.is_active.is_(True),
                User.role.in_(BOARD_ROLES),
            )
        )
        if board.scope == "unit":
            q = q.join(Unit, Unit.id == User.unit_id).where(Unit.path.startswith(board.unit_path))
        elif board.scope == "group":
            q = q.where(User.group_id == board.scope_id)
        elif board.scope == "level":
            q = q.outerjoin(LearnerStats, LearnerStats.user_id == User.id).where(
                func.coalesce(LearnerStats.level, 1) == board.scope_id
            )
        return q

    def _count(self, session: Session, board: Board, *conds) -> int:  # type: ignore[no-untyped-def]
        sub = self._members(board).where(*conds).subquery()
        return int(session.scalar(select(func.count()).select_from(sub)) or 0)

    def _rank(self, session: Session, board: Board, points: int) -> int:
        return self._count(session, board, PointTally.points > points) + 1

    def top(self, session: Session, board: Board, limit: int = TOP) -> list[Entry]:
        rows = session.execute(
            self._members(board).order_by(PointTally.points.desc(), PointTally.user_id).limit(limit)
        ).all()
        out: list[Entry] = []
        for i, (uid, pts) in enumerate(rows):
            rank = out[-1].rank if out and out[-1].points == pts else i + 1
            out.append(Entry(uid, pts, i + 1, rank))
        return out

    def entry(self, session: Session, board: Board, user_id: int) -> Entry | None:
        points = session.scalar(
            self._members(board)
            .where(PointTally.user_id == user_id)
            .with_only_columns(PointTally.points)
        )
        if points is None:
            return None
        above = self._count(session, board, PointTally.points > points)
        tied_before = self._count(
            session, board, PointTally.points == points, PointTally.user_id < user_id
        )
        return Entry(user_id, points, above + tied_before + 1, above + 1)

    def around(self, session: Session, board: Board, entry: Entry, k: int) -> list[Entry]:
        p, me = entry.points, entry.user_id
        before = session.execute(
            self._members(board)
            .where(
                or_(PointTally.points > p, and_(PointTally.points == p, PointTally.user_id < me))
            )
            .order_by(PointTally.points, PointTally.user_id.desc())
            .limit(k)
        ).all()
        after = session.execute(
            self._members(board)
            .where(
                or_(PointTally.points < p, and_(PointTally.points == p, PointTally.user_id > me))
            )
            .order_by(PointTally.points.desc(), PointTally.user_id)
            .limit(k)
        ).all()
        out = []
        for i, (uid, pts) in enumerate(reversed(before)):
            pos = entry.position - len(before) + i
            rank = entry.rank if pts == p else self._rank(session, board, pts)
            out.append(Entry(uid, pts, pos, rank))
        out.append(entry)
        for i, (uid, pts) in enumerate(after):
            rank = entry.rank if pts == p else self._rank(session, board, pts)
            out.append(Entry(uid, pts, entry.position + i + 1, rank))
        return out

    def size(self, session: Session, board: Board) -> int:
        return self._count(session, board)
