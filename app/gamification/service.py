"""Views shared by the gamification API and pages: boards with names, my ranks, badges,
the league, unit boards; and who may see which unit's boards."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.config import Settings
from app.core.errors import Forbidden, Invalid, NotFound
from app.gamification import badges, boards, emulation, leagues, periods, streaks
from app.gamification.boards import Board, BoardStore, Entry, SqlBoards
from app.gamification.emulation import Metric, unit_board
from app.gamification.names import Shown, shown_many
from app.gamification.redis_boards import boards_for_url
from app.gamification.schemas import (
    BadgeOut,
    BoardRowOut,
    LeaderboardOut,
    LeagueOut,
    LeagueResultOut,
    LeagueRowOut,
    MyPlaceOut,
    MyRankOut,
    RankOut,
    StreakOut,
    UnitBoardOut,
    UnitStandingOut,
)
from app.models import Role, Unit, User


def store_for(settings: Settings) -> BoardStore:
    """Redis sorted sets when REDIS_URL is set, SQL otherwise."""
    return (
        boards_for_url(settings.redis_url)
        if settings.redis_url
        else SqlBoards(settings.leaderboard_exact_ranks)
    )


def get_boards(request: Request) -> BoardStore:
    return request.app.state.boards  # type: ignore[no-any-return]


BoardsDep = Annotated[BoardStore, Depends(get_boards)]


def _rows(session: Session, board: Board, entries: list[Entry], me: int) -> list[BoardRowOut]:
    names = shown_many(
        session, [e.user_id for e in entries], viewer_id=me, local=board.scope == "unit"
    )
    blank = Shown("", "")
    return [
        BoardRowOut(
            rank=e.rank,
            rank_exact=e.exact,
            position=e.position,
            name=names.get(e.user_id, blank).name,
            unit=names.get(e.user_id, blank).unit,
            points=e.points,
            is_me=e.user_id == me,
        )
        for e in entries
    ]


def leaderboard_view(
    session: Session,
    store: BoardStore,
    user: User,
    *,
    scope: boards.ScopeName,
    period: periods.PeriodName,
    today: date,
    unit_id: int | None = None,
) -> LeaderboardOut:
    board = boards.resolve(session, user, scope=scope, period=period, today=today, unit_id=unit_id)
    top = store.top(session, board)
    mine = store.entry(session, board, user.id)
    me = None
    if mine is not None:
        me = MyPlaceOut(
            rank=mine.rank,
            rank_exact=mine.exact,
            position=mine.position,
            points=mine.points,
            neighbours=_rows(
                session, board, store.around(session, board, mine, boards.NEIGHBOURS), user.id
            ),
        )
    return LeaderboardOut(
        scope=scope,
        period=period,
        period_key=board.period,
        title=boards.board_title(session, board),
        size=store.size(session, board),
        top=_rows(session, board, top, user.id),
        me=me,
    )


def my_rank_view(
    session: Session, store: BoardStore, user: User, *, period: periods.PeriodName, today: date
) -> MyRankOut:
    ranks = []
    for scope in boards.SCOPE_NAMES:
        if scope == "group" and user.group_id is None:
            continue
        board = boards.resolve(session, user, scope=scope, period=period, today=today)
        mine = store.entry(session, board, user.id)
        ranks.append(
            RankOut(
                scope=scope,
                title=boards.board_title(session, board),
                rank=mine.rank if mine else None,
                rank_exact=mine.exact if mine else True,
                of=store.size(session, board),
                points=mine.points if mine else 0,
            )
        )
    return MyRankOut(period=period, period_key=periods.key_for(period, today), ranks=ranks)


def unit_rank(session: Session, store: BoardStore, user: User) -> tuple[int | None, int]:
    """The learner's all-time rank in their own unit and how many are on that board."""
    unit = session.get(Unit, user.unit_id)
    assert unit is not None
    board = Board(periods.ALL, "unit", unit.id, unit.path)
    mine = store.entry(session, board, user.id)
    return (mine.rank if mine else None), store.size(session, board)


def badges_view(session: Session, user_id: int) -> list[BadgeOut]:
    held = badges.held(session, user_id)
    return [
        BadgeOut(
            code=b.code,
            name=b.name,
            rule=b.rule_text,
            icon=b.icon,
            earned_at=held[b.code].awarded_at if b.code in held else None,
        )
        for b in badges.CATALOGUE
    ]


def streak_view(session: Session, user_id: int, today: date, settings: Settings) -> StreakOut:
    v = streaks.view(session, user_id, today, settings)
    return StreakOut(
        days=v.days,
        longest=v.longest,
        counted_today=v.counted_today,
        freezes=v.freezes,
        freezes_max=v.freezes_max,
        next_freeze_in=v.next_freeze_in,
        at_risk=v.at_risk,
    )


def league_view(session: Session, user: User, today: date, settings: Settings) -> LeagueOut:
    league = leagues.my_league(session, user.id, today)
    tier = league.tier if league else streaks.stats_for(session, user.id).league_tier
    table = leagues.standings(session, league, settings) if league else []
    names = shown_many(session, [s.user_id for s in table], viewer_id=user.id, local=False)
    past = [
        LeagueResultOut(
            week=lg.week,
            tier=leagues.tier_name(lg.tier),
            rank=m.final_rank,
            points=m.final_points,
            outcome=m.outcome.value if m.outcome else None,
        )
        for lg, m in leagues.history(session, user.id)
    ]
    return LeagueOut(
        week=periods.week_key(today),
        tier=tier,
        tier_name=leagues.tier_name(tier),
        ends_on=leagues.week_end(today),
        joined=league is not None,
        standings=[
            LeagueRowOut(
                rank=s.rank,
                name=names[s.user_id].name if s.user_id in names else "",
                points=s.points,
                zone=s.zone,
                is_me=s.user_id == user.id,
            )
            for s in table
        ],
        history=past,
    )


def viewable_unit(session: Session, principal: Principal, unit_id: int) -> Unit:
    """A unit whose boards the caller may see: administrators, anything in their scope;
    everyone, their own unit and the units above it (the boards they compete on)."""
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị.", code="unknown_unit")
    role = principal.user.role
    if role == Role.admin:
        return unit
    if role == Role.unit_admin and unit.path.startswith(principal.unit_path):
        return unit
    if principal.unit_path.startswith(unit.path):
        return unit
    raise Forbidden("Bạn không xem được bảng thi đua của đơn vị này.")


def reveals_names(principal: Principal, unit: Unit) -> bool:
    """Whether the caller sees full names on this unit's honour roll: administrators, and
    unit administrators for a unit of their own subtree (whose accounts they manage)."""
    role = principal.user.role
    return role == Role.admin or (
        role == Role.unit_admin and unit.path.startswith(principal.unit_path)
    )


def honour_roll_for(
    session: Session, store: BoardStore, principal: Principal, unit: Unit, period_key: str
) -> emulation.HonourRoll:
    """The unit's honour roll as this caller may read it (pages, JSON and files alike)."""
    return emulation.honour_roll(
        session,
        store,
        unit,
        period=period_key,
        viewer_id=principal.user.id,
        reveal=reveals_names(principal, unit),
    )


def period_key_of(period: str | None, key: str | None, today: date) -> str:
    """A week or month period: `key` (e.g. 2026-W47, 2026-10) or the current one."""
    if key:
        try:
            periods.span(key)
        except ValueError:
            raise Invalid(
                "Kỳ không hợp lệ (ví dụ 2026-W47 hoặc 2026-10).", code="bad_period"
            ) from None
        if key == periods.ALL:
            raise Invalid("Chọn một tuần hoặc một tháng.", code="bad_period")
        return key
    return periods.key_for("month" if period == "month" else "week", today)


def unit_board_view(
    session: Session, unit: Unit, *, period_key: str, metric: Metric, period: str
) -> UnitBoardOut:
    rows = unit_board(session, unit, period=period_key, metric=metric)
    return UnitBoardOut(
        unit_id=unit.id,
        unit=unit.name,
        period=period,
        period_key=period_key,
        metric=metric,
        units=[
            UnitStandingOut(
                rank=r.rank,
                unit_id=r.unit_id,
                name=r.name,
                registered=r.registered,
                active=r.active,
                participation=round(r.participation, 4),
                target_population=r.target_population,
                participation_of_target=(
                    round(r.participation_of_target, 4)
                    if r.participation_of_target is not None
                    else None
                ),
                average_points=round(r.average_points, 2),
                completion=round(r.completion, 4),
            )
            for r in rows
        ],
    )
