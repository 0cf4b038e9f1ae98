"""A record of each import of units or learners, with its row report."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin
from app.models.orgs import enum_column


class ImportKind(enum.StrEnum):
    units = "units"
    learners = "learners"


class ImportStatus(enum.StrEnum):
    applied = "applied"  # every row written
    partial = "partial"  # good rows written, bad rows reported
    rejected = "rejected"  # errors and nothing written
    checked = "checked"  # a dry run


class ImportJob(IdMixin, TimestampMixin, Base):
    __tablename__ = "import_jobs"

    kind: Mapped[ImportKind] = mapped_column(enum_column(ImportKind, 20))
    status: Mapped[ImportStatus] = mapped_column(enum_column(ImportStatus, 20))
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    unit_path: Mapped[str] = mapped_column(String(500), default="")
    total_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    unchanged_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
