"""What the gamification API returns."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import JsonIn


class BoardRowOut(BaseModel):
    rank: int
    rank_exact: bool = True  # False: a deep rank on a large SQL board, counted a minute ago
    position: int
    name: str
    unit: str
    points: int
    is_me: bool


class MyPlaceOut(BaseModel):
    rank: int
    rank_exact: bool = True
    position: int
    points: int
    neighbours: list[BoardRowOut]


class LeaderboardOut(BaseModel):
    scope: str
    period: str
    period_key: str
    title: str
    size: int
    top: list[BoardRowOut]
    me: MyPlaceOut | None


class RankOut(BaseModel):
    scope: str
    title: str
    rank: int | None
    rank_exact: bool = True
    of: int
    points: int


class MyRankOut(BaseModel):
    period: str
    period_key: str
    ranks: list[RankOut]


class BadgeOut(BaseModel):
    code: str
    name: str
    rule: str
    icon: str
    earned_at: datetime | None


class StreakOut(BaseModel):
    days: int
    longest: int
    counted_today: bool
    freezes: int
    freezes_max: int
    next_freeze_in: int
    at_risk: bool


class LeagueRowOut(BaseModel):
    rank: int
    name: str
    points: int
    zone: str
    is_me: bool


class LeagueResultOut(BaseModel):
    week: str
    tier: str
    rank: int | None
    points: int | None
    outcome: str | None


class LeagueOut(BaseModel):
    week: str
    tier: int
    tier_name: str
    ends_on: date
    joined: bool
    standings: list[LeagueRowOut]
    history: list[LeagueResultOut]


class UnitStandingOut(BaseModel):
    rank: int
    unit_id: int
    name: str
    registered: int
    active: int
    participation: float
    target_population: int | None
    participation_of_target: float | None
    average_points: float
    completion: float


class UnitBoardOut(BaseModel):
    unit_id: int
    unit: str
    period: str
    period_key: str
    metric: str
    units: list[UnitStandingOut]


class BoardNameIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    choice: Literal["short", "full"] = Field(
        description="short: given name and family-name initial (Cường N.); full: the full name"
    )


class BoardNameOut(BaseModel):
    choice: Literal["short", "full"]
    shown_as: str = Field(description="How other learners see the caller on the boards")
