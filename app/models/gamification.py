"""Gamification state derived from the points ledger: per-period tallies (what boards and
the daily cap read), each learner's streak, level and league tier, badges, and the weekly
leagues with their kept results."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin
from app.models.orgs import enum_column


class PointTally(Base):
    """A learner's points in one period: `all`, an ISO week (`2026-W48`), a month
    (`2026-11`) or a day (`2026-11-23`). Written in the same transaction as the ledger
    event that changes it, so the two never disagree; `bdhai leaderboard rebuild`
    recomputes them from the ledger.

    Each row also carries the learner's seat (unit path, group, level, and whether they are
    listed on boards at all: an active learner or mentor), so every board is one index
    range of this table (app.gamification.boards); `boards.reseat` keeps the seat in step
    when a learner moves."""

    __tablename__ = "point_tallies"

    period: Mapped[str] = mapped_column(String(12), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    points: Mapped[int] = mapped_column(default=0)
    listed: Mapped[bool] = mapped_column(default=False)
    unit_path: Mapped[str] = mapped_column(String(500), default="")
    group_id: Mapped[int | None] = mapped_column()
    level: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        Index(
            "ix_point_tallies_board",
            "period",
            "points",
            "user_id",
            postgresql_where=text("listed AND points > 0"),
            sqlite_where=text("listed AND points > 0"),
        ),
        Index(
            "ix_point_tallies_unit_board",
            "period",
            "unit_path",
            "points",
            "user_id",
            postgresql_ops={"unit_path": "varchar_pattern_ops"},
            postgresql_where=text("listed AND points > 0"),
            sqlite_where=text("listed AND points > 0"),
        ),
        Index(
            "ix_point_tallies_group_board",
            "period",
            "group_id",
            "points",
            "user_id",
            postgresql_where=text("listed AND points > 0"),
            sqlite_where=text("listed AND points > 0"),
        ),
        Index(
            "ix_point_tallies_level_board",
            "period",
            "level",
            "points",
            "user_id",
            postgresql_where=text("listed AND points > 0"),
            sqlite_where=text("listed AND points > 0"),
        ),
        Index("ix_point_tallies_user", "user_id"),
    )


class LearnerStats(TimestampMixin, Base):
    """One row per learner: the streak as of the last settled day, freezes held, the
    current level (for the level boards) and the league tier."""

    __tablename__ = "learner_stats"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    streak: Mapped[int] = mapped_column(default=0)
    longest_streak: Mapped[int] = mapped_column(default=0)
    streak_started: Mapped[date | None] = mapped_column()
    last_counted: Mapped[date | None] = mapped_column()  # last day that counted
    settled_through: Mapped[date | None] = mapped_column()  # missed days handled up to here
    freezes: Mapped[int] = mapped_column(default=0)
    freezes_used: Mapped[int] = mapped_column(default=0)
    level: Mapped[int] = mapped_column(default=1)  # the level the learner is working on
    league_tier: Mapped[int] = mapped_column(default=0)

    __table_args__ = (Index("ix_learner_stats_level", "level"),)


class UserBadge(TimestampMixin, Base):
    __tablename__ = "user_badges"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    awarded_at: Mapped[datetime] = mapped_column()
    event_id: Mapped[int | None] = mapped_column(ForeignKey("point_events.id", ondelete="SET NULL"))


class LeagueOutcome(enum.StrEnum):
    promoted = "promoted"
    stayed = "stayed"
    demoted = "demoted"


class League(IdMixin, TimestampMixin, Base):
    """One cohort of a week's league in one tier."""

    __tablename__ = "leagues"

    week: Mapped[str] = mapped_column(String(8))  # ISO week, e.g. 2026-W48
    tier: Mapped[int] = mapped_column()
    band: Mapped[int] = mapped_column(default=0)  # activity band the cohort was filled from
    size: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_leagues_week_tier_band", "week", "tier", "band"),)


class LeagueMember(TimestampMixin, Base):
    __tablename__ = "league_members"

    league_id: Mapped[int] = mapped_column(
        ForeignKey("leagues.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    week: Mapped[str] = mapped_column(String(8))
    # kept when the week closes
    final_points: Mapped[int | None] = mapped_column()
    final_rank: Mapped[int | None] = mapped_column()
    outcome: Mapped[LeagueOutcome | None] = mapped_column(enum_column(LeagueOutcome, 10))

    __table_args__ = (
        UniqueConstraint("user_id", "week"),
        Index("ix_league_members_league", "league_id"),
    )
