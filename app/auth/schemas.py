"""Request and response bodies for sign-up, sign-in and tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.core.ids import Id
from app.core.schemas import JsonIn
from app.core.validation import normalize_email, normalize_name, normalize_phone
from app.models import Role


class RegisterIn(JsonIn):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    password: str = Field(max_length=200)
    unit_id: Id
    group_id: Id | None = None

    @field_validator("full_name")
    @classmethod
    def _name(cls, v: str) -> str:
        return normalize_name(v)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return normalize_phone(v) if v else None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return normalize_email(v) if v else None

    @model_validator(mode="after")
    def _contact(self) -> RegisterIn:
        if not self.phone and not self.email:
            raise ValueError("Cần có số điện thoại hoặc thư điện tử.")
        return self


class LoginIn(JsonIn):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    identifier: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=200)


class RefreshIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=10, max_length=2000)


class LogoutIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    everywhere: bool = False


class ChangePasswordIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(max_length=200)


class ResetWithTokenIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=200)
    new_password: str = Field(max_length=200)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    must_change_password: bool = False


class UnitBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str


class GroupBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str


class MeOut(BaseModel):
    id: int
    full_name: str
    phone: str | None
    email: str | None
    role: Role
    unit: UnitBrief
    group: GroupBrief | None
    must_change_password: bool
    created_at: datetime
