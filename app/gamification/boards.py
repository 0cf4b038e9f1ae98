"""Individual leaderboards: a period (all time, this week, this month) and a scope
(everyone, a unit's subtree, a learner group, a level).

On a board: active learners and mentors with more than 0 points in the period, ordered by
points (most first) and, on equal points, by account id, so every store lists the same
order. A rank is the competition rank (1 + how many have strictly more points: equal points
share a rank). Two stores answer the same questions: `SqlBoards` reads the tallies kept with
the ledger; `RedisBoards` (app.gamification.redis_boards) reads sorted sets kept in step
with them."""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.orm import Session

from app.core.errors import Forbidden, NotFound
from app.gamification import periods
from app.models import (
    LEARNER_ROLES,
    LearnerGroup,
    LearnerStats,
    Level,
    PointTally,
    Unit,
    User,
)

ScopeName = Literal["all", "unit", "group", "level"]
SCOPE_NAMES: tuple[ScopeName, ...] = ("all", "unit", "group", "level")
SCOPE_LABELS = {"all": "Toàn bộ", "unit": "Đơn vị", "group": "Nhóm", "level": "Bậc"}
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
    exact: bool = True  # False: a deep rank read from a recent count (SQL boards only)


class BoardStore(Protocol):
    def top(self, session: Session, board: Board, limit: int = TOP) -> list[Entry]: ...

    def entry(self, session: Session, board: Board, user_id: int) -> Entry | None: ...

    def around(self, session: Session, board: Board, entry: Entry, k: int) -> list[Entry]: ...

    def size(self, session: Session, board: Board) -> int: ...


def mark_moved(session: Session, *user_ids: int) -> None:
    """These learners' points or seats changed in this transaction: Redis boards re-read
    them after the commit (app.gamification.redis_boards)."""
    session.info.setdefault("boards_touched", set()).update(user_ids)


def seat_select() -> Select:  # type: ignore[type-arg]
    """Where each learner sits: (user id, listed, unit path, group id, level). Listed: an
    active learner or mentor (the only accounts on boards)."""
    return (
        select(
            User.id.label("user_id"),
            (User.is_active & User.role.in_(LEARNER_ROLES)).label("listed"),
            Unit.path.label("unit_path"),
            User.group_id.label("group_id"),
            func.coalesce(LearnerStats.level, 1).label("level"),
        )
        .join(Unit, Unit.id == User.unit_id)
        .outerjoin(LearnerStats, LearnerStats.user_id == User.id)
    )


def reseat(session: Session, user_ids: Iterable[int] = (), *, under_path: str = "") -> None:
    """Copy these learners' seats (or those of everyone in the unit subtree `under_path`)
    onto their tally rows, after a change of unit, group, level, role or activity, and
    have Redis boards follow after the commit."""
    if under_path:
        ids = session.scalars(
            select(User.id)
            .join(Unit, Unit.id == User.unit_id)
            .where(Unit.path.startswith(under_path))
        ).all()
    else:
        ids = sorted(set(user_ids))
    chunks = [list(ids[i : i + 500]) for i in range(0, len(ids), 500)]
    for chunk in chunks:
        seats = seat_select().where(User.id.in_(chunk)).subquery()
        session.execute(
            update(PointTally)
            .where(
                PointTally.user_id == seats.c.user_id,
                PointTally.period.not_like(periods.DAY_PATTERN),  # days are on no board
            )
            .values(
                listed=seats.c.listed,
                unit_path=seats.c.unit_path,
                group_id=seats.c.group_id,
                level=seats.c.level,
            )
            .execution_options(synchronize_session=False)
        )
        mark_moved(session, *chunk)


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
    """Boards read from `point_tallies`, whose rows carry the learner's seat: every board is
    one range of a partial index on (period, [unit path | group | level,] points, user).

    A rank is a count of the rows above. Counts stop at `exact_ranks` rows, so reads stay
    fast on boards of a million learners; a rank deeper than that (and a board's size
    beyond it) comes from the board's points histogram, recounted at most once every
    `histogram_seconds`, and the entry says it is approximate."""

    def __init__(self, exact_ranks: int = 10_000, histogram_seconds: float = 60.0) -> None:
        self.exact_ranks = exact_ranks
        self.histogram_seconds = histogram_seconds
        # board -> (when counted, points descending, how many have more than each)
        self._histograms: dict[tuple[int, Board], tuple[float, list[int], list[int]]] = {}

    @staticmethod
    def _on(board: Board) -> list[ColumnElement[bool]]:
        conds = [PointTally.period == board.period, PointTally.listed, PointTally.points > 0]
        if board.scope == "unit":
            conds.append(PointTally.unit_path.like(board.unit_path + "%"))
        elif board.scope == "group":
            conds.append(PointTally.group_id == board.scope_id)
        elif board.scope == "level":
            conds.append(PointTally.level == board.scope_id)
        return conds

    def _rows(self, board: Board, *conds: ColumnElement[bool]) -> Select:  # type: ignore[type-arg]
        return select(PointTally.user_id, PointTally.points).where(*self._on(board), *conds)

    def _count(self, session: Session, board: Board, *conds: ColumnElement[bool]) -> int | None:
        """How many rows match, or None when more than `exact_ranks` do."""
        capped = (
            select(PointTally.user_id)
            .where(*self._on(board), *conds)
            .limit(self.exact_ranks + 1)
            .subquery()
        )
        n = int(session.scalar(select(func.count()).select_from(capped)) or 0)
        return n if n <= self.exact_ranks else None

    def _histogram(self, session: Session, board: Board) -> tuple[list[int], list[int]]:
        key = (id(session.get_bind()), board)
        cached = self._histograms.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.histogram_seconds:
            return cached[1], cached[2]
        rows = session.execute(
            select(PointTally.points, func.count())
            .where(*self._on(board))
            .group_by(PointTally.points)
            .order_by(PointTally.points.desc())
        ).all()
        points, above, seen = [], [], 0
        for pts, n in rows:
            points.append(-int(pts))  # ascending for bisect
            above.append(seen)
            seen += int(n)
        above.append(seen)  # the board's size
        self._histograms[key] = (time.monotonic(), points, above)
        return points, above

    def _above(self, session: Session, board: Board, points: int) -> tuple[int, bool]:
        """How many have more than `points`, and whether that is an exact count."""
        n = self._count(session, board, PointTally.points > points)
        if n is not None:
            return n, True
        keys, above = self._histogram(session, board)
        return max(above[bisect.bisect_left(keys, -points)], self.exact_ranks), False

    def top(self, session: Session, board: Board, limit: int = TOP) -> list[Entry]:
        rows = session.execute(
            self._rows(board).order_by(PointTally.points.desc(), PointTally.user_id).limit(limit)
        ).all()
        out: list[Entry] = []
        for i, (uid, pts) in enumerate(rows):
            rank = out[-1].rank if out and out[-1].points == pts else i + 1
            out.append(Entry(uid, pts, i + 1, rank))
        return out

    def entry(self, session: Session, board: Board, user_id: int) -> Entry | None:
        points = session.scalar(
            self._rows(board, PointTally.user_id == user_id).with_only_columns(PointTally.points)
        )
        if points is None:
            return None
        above, exact = self._above(session, board, points)
        tied = self._count(
            session, board, PointTally.points == points, PointTally.user_id < user_id
        )
        if tied is None:  # a crowd on the same points: place the learner in its middle
            keys, counts = self._histogram(session, board)
            i = bisect.bisect_left(keys, -points)
            tied = (counts[i + 1] - counts[i]) // 2 if i < len(keys) and keys[i] == -points else 0
            exact = False
        return Entry(user_id, points, above + tied + 1, above + 1, exact)

    def around(self, session: Session, board: Board, entry: Entry, k: int) -> list[Entry]:
        """Up to k learners each side, each side read as index ranges: first the learner's
        own points, then beyond them."""
        p, me = entry.points, entry.user_id
        order_up = (PointTally.points, PointTally.user_id.desc())
        order_down = (PointTally.points.desc(), PointTally.user_id)
        before = session.execute(
            self._rows(board, PointTally.points == p, PointTally.user_id < me)
            .order_by(*order_up)
            .limit(k)
        ).all()
        if len(before) < k:
            before += session.execute(
                self._rows(board, PointTally.points > p).order_by(*order_up).limit(k - len(before))
            ).all()
        after = session.execute(
            self._rows(board, PointTally.points == p, PointTally.user_id > me)
            .order_by(*order_down)
            .limit(k)
        ).all()
        if len(after) < k:
            after += session.execute(
                self._rows(board, PointTally.points < p).order_by(*order_down).limit(k - len(after))
            ).all()
        ranks: dict[int, tuple[int, bool]] = {p: (entry.rank, entry.exact)}
        for _uid, pts in before:
            if pts not in ranks:
                above, exact = self._above(session, board, pts)
                ranks[pts] = (above + 1, exact)
        out = [
            Entry(uid, pts, entry.position - len(before) + i, *ranks[pts])
            for i, (uid, pts) in enumerate(reversed(before))
        ]
        out.append(entry)
        for i, (uid, pts) in enumerate(after):
            position = entry.position + i + 1
            if pts not in ranks:  # the first on fewer points: everyone before has more
                ranks[pts] = (position, entry.exact)
            out.append(Entry(uid, pts, position, *ranks[pts]))
        return out

    def size(self, session: Session, board: Board) -> int:
        n = self._count(session, board)
        return n if n is not None else self._histogram(session, board)[1][-1]
