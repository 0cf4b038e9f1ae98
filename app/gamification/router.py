"""JSON API for points, streaks, badges, leaderboards, leagues and unit emulation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import SettingsDep, SignedIn
from app.core.clock import local_day
from app.core.ids import Id
from app.db import SessionDep
from app.gamification import emulation, names, service
from app.gamification.boards import ScopeName
from app.gamification.periods import PeriodName
from app.gamification.schemas import (
    BadgeOut,
    BoardNameIn,
    BoardNameOut,
    LeaderboardOut,
    LeagueOut,
    MyRankOut,
    StreakOut,
    UnitBoardOut,
)
from app.gamification.service import BoardsDep
from app.models import utcnow
from app.openapi import files

router = APIRouter(tags=["gamification"])
PeriodKey = Annotated[str | None, Query(max_length=8, pattern=r"^\d{4}-(W\d{2}|\d{2})$")]


@router.get("/leaderboards", response_model=LeaderboardOut)
def leaderboards(
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    store: BoardsDep,
    scope: ScopeName = "all",
    period: PeriodName = "week",
    unit_id: Id | None = None,
) -> LeaderboardOut:
    """The top 50 of a board and the caller's own rank with two neighbours each side.
    `scope=unit` is the caller's unit, or with `unit_id` one of the units above it."""
    return service.leaderboard_view(
        session,
        store,
        principal.user,
        scope=scope,
        period=period,
        today=local_day(utcnow(), settings.tz),
        unit_id=unit_id,
    )


@router.get("/me/rank", response_model=MyRankOut)
def my_rank(
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    store: BoardsDep,
    period: PeriodName = "week",
) -> MyRankOut:
    """The caller's rank on every board of a period."""
    return service.my_rank_view(
        session, store, principal.user, period=period, today=local_day(utcnow(), settings.tz)
    )


def _board_name_out(principal: SignedIn) -> BoardNameOut:
    user = principal.user
    return BoardNameOut(choice=user.board_name.value, shown_as=names.as_others_see(user))


@router.get("/me/board-name", response_model=BoardNameOut)
def my_board_name(principal: SignedIn) -> BoardNameOut:
    """How the caller appears to other learners on boards, leagues and honour rolls."""
    return _board_name_out(principal)


@router.put("/me/board-name", response_model=BoardNameOut)
def set_my_board_name(body: BoardNameIn, principal: SignedIn, session: SessionDep) -> BoardNameOut:
    """Choose how other learners see the caller: `short` (given name and family-name
    initial, the default) or `full` (the full name, with the unit). Shown at once."""
    names.set_choice(session, principal.user, body.choice)
    return _board_name_out(principal)


@router.get("/me/badges", response_model=list[BadgeOut])
def my_badges(principal: SignedIn, session: SessionDep) -> list[BadgeOut]:
    """Every badge with its rule; `earned_at` is set for those the caller holds."""
    return service.badges_view(session, principal.user.id)


@router.get("/me/streak", response_model=StreakOut)
def my_streak(principal: SignedIn, session: SessionDep, settings: SettingsDep) -> StreakOut:
    return service.streak_view(
        session, principal.user.id, local_day(utcnow(), settings.tz), settings
    )


@router.get("/me/league", response_model=LeagueOut)
def my_league(principal: SignedIn, session: SessionDep, settings: SettingsDep) -> LeagueOut:
    """This week's cohort with its promotion and demotion zones, and past results."""
    return service.league_view(session, principal.user, local_day(utcnow(), settings.tz), settings)


@router.get("/units/{unit_id}/board", response_model=UnitBoardOut)
def unit_board(
    unit_id: Id,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    period: Literal["week", "month"] = "week",
    key: PeriodKey = None,
    metric: emulation.Metric = "participation",
) -> UnitBoardOut:
    """The unit's child units compared (thi đua) for this week or month, or a past one
    given as `key` (2026-W47, 2026-10)."""
    unit = service.viewable_unit(session, principal, unit_id)
    period_key = service.period_key_of(period, key, local_day(utcnow(), settings.tz))
    return service.unit_board_view(
        session, unit, period_key=period_key, metric=metric, period=period
    )


@router.get(
    "/units/{unit_id}/honour-roll",
    responses=files("application/json", *emulation.MEDIA_TYPES.values(), description="The roll"),
)
def honour_roll(
    unit_id: Id,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    store: BoardsDep,
    period: Literal["week", "month"] = "week",
    key: PeriodKey = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response:
    """The period's honour roll (vinh danh): top 10 learners of the unit's subtree and
    its top 3 child units; as JSON, CSV or XLSX."""
    unit = service.viewable_unit(session, principal, unit_id)
    period_key = service.period_key_of(period, key, local_day(utcnow(), settings.tz))
    roll = service.honour_roll_for(session, store, principal, unit, period_key)
    if format == "json":
        return Response(content=emulation.roll_json(roll), media_type="application/json")
    content, media, filename = emulation.download(roll, format)
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
