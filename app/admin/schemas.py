"""Account administration bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.auth.schemas import GroupBrief, UnitBrief
from app.core.ids import Id
from app.core.schemas import JsonIn, Lax
from app.core.validation import normalize_email, normalize_name, normalize_phone
from app.models import Role

Activity = Literal["7d", "30d", "inactive30", "never"]  # the accounts list's activity filter


class UserOut(BaseModel):
    id: int
    full_name: str
    phone: str | None
    email: str | None
    role: Role
    unit: UnitBrief
    group: GroupBrief | None
    is_active: bool
    must_change_password: bool
    created_at: datetime
    last_login_at: datetime | None


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    page: int
    per_page: int


class _ContactFields(JsonIn):
    @field_validator("full_name", check_fields=False)
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return normalize_name(v) if v is not None else None

    @field_validator("phone", check_fields=False)
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return normalize_phone(v) if v else None

    @field_validator("email", check_fields=False)
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return normalize_email(v) if v else None


class UserCreateIn(_ContactFields):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    unit_id: Id
    group_id: Id | None = None
    role: Annotated[Role, Lax] = Role.learner

    @model_validator(mode="after")
    def _contact(self) -> UserCreateIn:
        if not self.phone and not self.email:
            raise ValueError("Cần có số điện thoại hoặc thư điện tử.")
        return self


class UserPatch(_ContactFields):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    unit_id: Id | None = None
    group_id: Id | None = None
    role: Annotated[Role, Lax] | None = None


class UserCreatedOut(BaseModel):
    user: UserOut
    temporary_password: str


class ResetIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    method: Literal["link", "temporary"] = "link"


class ResetOut(BaseModel):
    method: Literal["link", "temporary"]
    reset_url: str | None = None
    temporary_password: str | None = None
    expires_at: datetime | None = None


class UnlockOut(BaseModel):
    user_id: int
    level: int
    created: bool
