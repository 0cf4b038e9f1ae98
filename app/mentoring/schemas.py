"""What the mentoring API (mentorships, the review queue, appeals) takes and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import JsonIn
from app.curriculum.schema import BANDS


class MentorLevelOut(BaseModel):
    level: int
    level_title: str
    completed: bool
    average: float
    longest_streak: int
    eligible: bool
    status: str | None  # pending | active | rejected | stepped_down | removed
    missing: list[str]


class MentoringOut(BaseModel):
    role: str
    active_levels: list[int]
    levels: list[MentorLevelOut]


class ReasonIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=300)


class QueueItemOut(BaseModel):
    id: int
    kind: str
    kind_text: str
    status: str
    level: int
    lesson_id: str
    lesson_title: str
    waiting_since: datetime
    auto_score: float
    reason: str


class QueueOut(BaseModel):
    scope_unit: str
    widened: bool
    levels: list[int]
    items: list[QueueItemOut]


class CriterionOut(BaseModel):
    id: str
    name: str
    weight: int
    bands: dict[int, str]
    auto_score: int | None
    auto_comment: str | None


class ReviewOut(BaseModel):
    id: int
    role: str
    score: float
    passed: bool
    feedback: str
    criteria: list[dict[str, object]]
    agrees: bool | None
    mine: bool


class ItemOut(BaseModel):
    id: int
    kind: str
    kind_text: str
    status: str
    level: int
    lesson_id: str
    lesson_title: str
    task: str
    pass_mark: int
    text: str
    image_url: str | None
    auto_score: float
    auto_passed: bool
    auto_feedback: str
    reason: str
    criteria: list[CriterionOut]
    reviews: list[ReviewOut]
    decided_score: float | None
    decided_passed: bool | None
    decision_note: str
    claimed_until: datetime | None


Band = Annotated[int, Field(ge=min(BANDS), le=max(BANDS))]


class ReviewIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    scores: dict[str, Band] = Field(description="criterion id → band (0–3)", max_length=20)
    comments: dict[str, str] = Field(default_factory=dict, max_length=20)
    feedback: str = Field(max_length=2000, description="what the learner reads")


class AppealIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=500)


class AppealOut(BaseModel):
    id: int
    status: str
    text: str
    reason: str
    note: str
    decided_at: datetime | None


class MentorshipOut(BaseModel):
    id: int
    user_id: int
    full_name: str
    level: int
    status: str
    status_text: str
    unit_path: str
    reason: str
    updated_at: datetime
