"""Units and learner groups in and out of the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.ids import Id
from app.core.schemas import JsonIn, Lax
from app.core.validation import normalize_code, normalize_name
from app.models import ImportKind, ImportStatus, UnitType


class UnitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    type: UnitType
    type_label: str
    parent_id: int | None
    depth: int
    is_active: bool


class UnitNode(UnitOut):
    children: list[UnitNode] = Field(default_factory=list)
    has_children: bool = False


class UnitIn(JsonIn):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(max_length=50)
    name: str = Field(max_length=200)
    type: Annotated[UnitType, Lax]
    parent_id: Id | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return normalize_code(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return normalize_name(v, max_length=200, label="Tên đơn vị")


class UnitPatch(JsonIn):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, max_length=200)
    type: Annotated[UnitType, Lax] | None = None
    parent_id: Id | None = None
    is_active: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return normalize_name(v, max_length=200, label="Tên đơn vị") if v is not None else None


class GroupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    description: str
    sort_order: int
    is_active: bool


class GroupIn(JsonIn):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(max_length=40)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=500)
    sort_order: int = Field(default=0, ge=0, le=10_000)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return normalize_code(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return normalize_name(v, max_length=200, label="Tên nhóm")


class GroupPatch(JsonIn):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=500)
    sort_order: int | None = Field(default=None, ge=0, le=10_000)
    is_active: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return normalize_name(v, max_length=200, label="Tên nhóm") if v is not None else None


class ImportRowError(BaseModel):
    line: int
    message: str


class Credential(BaseModel):
    line: int
    full_name: str
    login: str
    temporary_password: str


class ImportOut(BaseModel):
    id: int
    kind: ImportKind
    status: ImportStatus
    filename: str
    total_rows: int
    created: int
    updated: int
    unchanged: int
    errors: list[ImportRowError]
    credentials: list[Credential] = Field(
        default_factory=list,
        description="New accounts' temporary passwords, returned once, for printing.",
    )
    created_at: datetime
