"""Target populations per unit and learner group, which the dashboard and the quarterly
report measure participation and improvement against."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, UniqueConstraint
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
