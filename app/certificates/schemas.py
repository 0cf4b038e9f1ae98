"""What the certificates API takes and returns."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field, field_validator

from app.core.schemas import JsonIn
from app.core.validation import normalize_name


class CertificateOut(BaseModel):
    serial: str
    level: int
    level_title: str
    holder_name: str
    unit: str
    status: str  # issued | pending | revoked | expired
    status_text: str
    issued_on: date | None
    revoke_reason: str | None = None
    verify_url: str
    pdf_url: str | None
    credential_url: str


class VerifyIn(JsonIn):
    credential: str = Field(min_length=10, max_length=20_000, description="A VC-JWT")


class VerifyOut(BaseModel):
    status: str  # valid | revoked | expired | tampered | withdrawn | unknown_issuer | malformed | …
    status_text: str
    reasons: list[str]
    certificate: CertificateOut | None = None


class RevokeIn(JsonIn):
    reason: str = Field(min_length=5, max_length=300)

    @field_validator("reason")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) < 5:
            raise ValueError("Lý do thu hồi cần ít nhất 5 ký tự.")
        return value


class ReissueIn(JsonIn):
    full_name: str = Field(max_length=200)

    @field_validator("full_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return normalize_name(value)


class ApprovedOut(BaseModel):
    approved: int
