"""Every grade given to a submission, by which grader, at what cost: the history behind
the submission's current grade (re-grades and mentors' decisions add rows)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin


class GradeRecord(IdMixin, TimestampMixin, Base):
    __tablename__ = "grade_records"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(default=0)
    grader: Mapped[str] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(100))
    score: Mapped[float] = mapped_column()
    passed: Mapped[bool] = mapped_column()
    confidence: Mapped[float | None] = mapped_column()
    provisional: Mapped[bool] = mapped_column(default=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    tokens_in: Mapped[int] = mapped_column(default=0)
    tokens_out: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    latency_ms: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        Index("ix_grade_records_submission", "submission_id"),
        Index("ix_grade_records_created", "created_at"),
    )
