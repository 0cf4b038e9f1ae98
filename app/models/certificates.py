"""Per-level certificates and the keys that sign them.

A certificate row is the record: who, which level, the name and unit printed on it, its
status (waiting for approval, issued, revoked: a revoked row is kept and marked), and the
signed credential (an Open Badges 3.0 AchievementCredential as a VC-JWT). Signing keys are
kept with their private half encrypted by SECRET_KEY; a retired key signs nothing new but
stays in the JWKS so the certificates it signed still verify."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin
from app.models.orgs import enum_column


class CertificateStatus(enum.StrEnum):
    pending = "pending"  # the rule is met; waiting for a unit admin's approval
    issued = "issued"
    revoked = "revoked"


CERTIFICATE_STATUS_LABELS = {
    CertificateStatus.pending: "Chờ phê duyệt",
    CertificateStatus.issued: "Còn hiệu lực",
    CertificateStatus.revoked: "Đã thu hồi",
}


class Certificate(IdMixin, TimestampMixin, Base):
    __tablename__ = "certificates"

    serial: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    level_number: Mapped[int] = mapped_column(ForeignKey("levels.number", ondelete="RESTRICT"))
    status: Mapped[CertificateStatus] = mapped_column(enum_column(CertificateStatus, 10))
    holder_name: Mapped[str] = mapped_column(String(120))  # as printed
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"))  # issuer
    unit_path: Mapped[str] = mapped_column(String(500))  # the learner's unit (admin scope)
    lessons_passed: Mapped[int] = mapped_column()
    average: Mapped[float] = mapped_column()
    eligible_at: Mapped[datetime] = mapped_column()
    issued_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str | None] = mapped_column(String(300))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    key_id: Mapped[str | None] = mapped_column(String(40))
    credential_jwt: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # one live certificate (waiting or issued) per learner and level
        Index(
            "uq_certificates_live",
            "user_id",
            "level_number",
            unique=True,
            postgresql_where=text("status <> 'revoked'"),
            sqlite_where=text("status <> 'revoked'"),
        ),
        Index("ix_certificates_unit_status", "unit_path", "status"),
    )


class SigningKey(TimestampMixin, Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(40), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(10), default="ES256")
    public_jwk: Mapped[str] = mapped_column(Text)  # JSON
    private_pem: Mapped[str] = mapped_column(Text)  # PKCS#8, encrypted with SECRET_KEY
    retired_at: Mapped[datetime | None] = mapped_column()
