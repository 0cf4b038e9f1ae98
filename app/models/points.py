"""The points ledger: append-only events; totals, ranks and boards derive from it."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin

# the kinds a mentor earns by helping others (the mentor board sums them)
MENTOR_KINDS = ("mentor_review", "answer_accepted", "teach_back_featured")
MENTOR_KINDS_SQL = ", ".join(f"'{k}'" for k in MENTOR_KINDS)


class PointEvent(IdMixin, TimestampMixin, Base):
    __tablename__ = "point_events"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    points: Mapped[int] = mapped_column()  # granted (after the daily cap)
    requested: Mapped[int] = mapped_column(default=0)  # what the rule asked for
    # one event per key: a retried job or a replayed request never counts twice
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    day: Mapped[date] = mapped_column()
    lesson_id: Mapped[str | None] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_point_events_user_day", "user_id", "day"),
        Index("ix_point_events_user_kind_lesson", "user_id", "kind", "lesson_id"),
        Index("ix_point_events_day", "day"),
        # the mentor board: a mentor's credit over a range of days (a few rows only)
        Index(
            "ix_point_events_mentor_day",
            "day",
            "user_id",
            postgresql_where=text(f"kind IN ({MENTOR_KINDS_SQL})"),
            sqlite_where=text(f"kind IN ({MENTOR_KINDS_SQL})"),
        ),
        # reports: who completed which level when (one row per learner and level)
        Index(
            "ix_point_events_level_complete",
            "day",
            "user_id",
            postgresql_where=text("kind = 'level_complete'"),
            sqlite_where=text("kind = 'level_complete'"),
        ),
    )
