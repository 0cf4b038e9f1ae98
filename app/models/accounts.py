"""Accounts, sign-in sessions and one-time password-reset links."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.core.text import fold
from app.models.base import Base, IdMixin, TimestampMixin, utcnow
from app.models.orgs import LearnerGroup, Unit, enum_column


class Role(enum.StrEnum):
    learner = "learner"
    mentor = "mentor"
    unit_admin = "unit_admin"
    admin = "admin"


LEARNER_ROLES = (Role.learner, Role.mentor)  # who learns: boards, reports, mentoring


class BoardName(enum.StrEnum):
    """How a learner appears to other people on boards (app.gamification.names)."""

    short = "short"  # given name and family-name initial: Cường N. (the default)
    full = "full"  # the full name, with the unit


ROLE_LABELS: dict[Role, str] = {
    Role.learner: "Học viên",
    Role.mentor: "Người hướng dẫn",
    Role.unit_admin: "Quản trị đơn vị",
    Role.admin: "Quản trị hệ thống",
}


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    full_name: Mapped[str] = mapped_column(String(120))
    # full_name folded (lowercase, no diacritics) so a search matches on every database
    search_key: Mapped[str] = mapped_column(String(120), default="", index=True)
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, 20), default=Role.learner)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("learner_groups.id", ondelete="RESTRICT"), index=True
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()
    board_name: Mapped[BoardName] = mapped_column(
        enum_column(BoardName, 8), default=BoardName.short, server_default=BoardName.short.value
    )

    unit: Mapped[Unit] = relationship(lazy="raise")
    group: Mapped[LearnerGroup | None] = relationship(lazy="raise")

    __table_args__ = (
        CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="phone_or_email"),
    )

    @validates("full_name")
    def _set_search_key(self, _key: str, value: str) -> str:
        self.search_key = fold(value)[:120]
        return value

    @property
    def login_name(self) -> str:
        return self.phone or self.email or ""


class AuthSession(TimestampMixin, Base):
    """A signed-in device. Access and refresh tokens name it (`sid`); revoking it ends both.
    Refresh tokens rotate: only the newest `refresh_jti` is accepted, and a replayed older
    one revokes the session."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_jti: Mapped[str] = mapped_column(String(36))
    previous_refresh_jti: Mapped[str | None] = mapped_column(String(36))
    rotated_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class PasswordResetToken(IdMixin, TimestampMixin, Base):
    __tablename__ = "password_reset_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
