"""Target populations per unit and learner group, which the dashboard and the quarterly
report measure participation and improvement against."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin


class UnitTarget(IdMixin, TimestampMixin, Base):
    """How many people of a learner group a unit has (e.g. 85 civil servants in a commune).
    A unit's own figure stands for its whole subtree; where it has none, its children's
    figures add up (see app.reports.targets)."""

    __tablename__ = "unit_targets"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("learner_groups.id", ondelete="CASCADE"))
    population: Mapped[int] = mapped_column()

    __table_args__ = (
        UniqueConstraint("unit_id", "group_id"),
        CheckConstraint("population >= 0", name="population_not_negative"),
    )


class ReportDay(Base):
    """One day's figures for a unit's whole subtree and one learner group (0: no group),
        written by app.reports.rollups from the raw tables. `registered` is a state (accounts
        registered by the day's end); the rest happened on the day (`certificates` is
    report_level_days' per-level count summed, so a range's total reads fewer rows)."""

    __tablename__ = "report_days"

    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(primary_key=True)
    registered: Mapped[int] = mapped_column(default=0)
    new: Mapped[int] = mapped_column(default=0)
    lessons: Mapped[int] = mapped_column(default=0)
    score_sum: Mapped[float] = mapped_column(default=0.0)
    score_count: Mapped[int] = mapped_column(default=0)
    certificates: Mapped[int] = mapped_column(default=0)  # issued, not since revoked

    __table_args__ = (Index("ix_report_days_day", "day"),)


class ReportLevelDay(Base):
    """One day's figures per level for a unit's subtree and a learner group. `valid` (valid
    certificates) and `holders` (learners whose best valid certificate is this level) are
    states at the day's end; `completed` and `certificates` (issued, not since revoked)
    happened on the day."""

    __tablename__ = "report_level_days"

    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True)
    completed: Mapped[int] = mapped_column(default=0)
    certificates: Mapped[int] = mapped_column(default=0)
    valid: Mapped[int] = mapped_column(default=0)
    holders: Mapped[int] = mapped_column(default=0)

    __table_args__ = (Index("ix_report_level_days_day", "day"),)


class ReportActiveDay(Base):
    """Who was active on a day in a unit's subtree: a serialized Roaring bitmap of account
    ids, so distinct learners over any range are unions, not scans."""

    __tablename__ = "report_active_days"

    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    learners: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_report_active_days_day", "day"),)


class ReportUnit(Base):
    """A unit's subtree as it stands at the last refresh: its learners and its active
    mentors (Roaring bitmaps of account ids), and its hamlets and residential groups,
    how many with a mentor. A child's active learners over a range are the parent's
    active learners intersected with the child's, so a page reads one row per child."""

    __tablename__ = "report_units"

    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )
    learners: Mapped[bytes] = mapped_column(LargeBinary)
    mentors: Mapped[bytes] = mapped_column(LargeBinary)
    leaves: Mapped[int] = mapped_column(default=0)
    leaves_with_mentor: Mapped[int] = mapped_column(default=0)


class ReportMove(Base):
    """A learner whose seat (unit, group, or being a learner at all) changed, with the seat
    they had before: the next refresh moves their past figures from the old seat to the
    current one (app.reports.rollups) instead of rebuilding every day since they joined."""

    __tablename__ = "report_moves"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    unit_id: Mapped[int | None] = mapped_column()
    group_id: Mapped[int | None] = mapped_column()
    learner: Mapped[bool] = mapped_column()


class ReportState(Base):
    """The rollups' one bookkeeping row: the last day built, when, and the earliest day a
    later change to the raw tables (a move, a revocation, a regrade) made stale.
    `dirty_seq` grows with each such mark, so a refresh clears only what it has seen."""

    __tablename__ = "report_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    built_from: Mapped[date | None] = mapped_column()
    built_through: Mapped[date | None] = mapped_column()
    refreshed_at: Mapped[datetime | None] = mapped_column()
    dirty_from: Mapped[date | None] = mapped_column()
    dirty_seq: Mapped[int] = mapped_column(default=0)
