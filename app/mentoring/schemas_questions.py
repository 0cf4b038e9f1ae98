"""Questions and answers under lessons, in and out of the API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.ids import Id
from app.core.schemas import JsonIn
from app.mentoring.questions import MASKED_NOTICE, PostView, QueueItem, Thread


class QuestionIn(JsonIn):
    body: str = Field(max_length=20_000, description="10–1000 characters after trimming")


class AnswerIn(JsonIn):
    body: str = Field(max_length=20_000, description="5–2000 characters after trimming")


class ReportIn(JsonIn):
    post_type: Literal["question", "answer"]
    post_id: Id
    reason: str = Field(
        max_length=40,
        description="spam | misinformation | personal_data | abuse | other",
    )
    note: str = Field(default="", max_length=2000, description="at most 300 characters")


class HideIn(JsonIn):
    reason: str = Field(max_length=2000, description="3–300 characters, shown in the post's place")


class UnhideIn(JsonIn):
    note: str = Field(default="", max_length=2000, description="at most 300 characters")


class AuthorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="Given name only")
    role_label: str = Field(description="'Người hướng dẫn' for mentors, '' for learners")


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    type: Literal["question", "answer"]
    id: int
    question_id: int
    lesson_id: str
    author: AuthorOut
    body: str = Field(description="The text, or 'Nội dung đã bị ẩn: <lý do>' when redacted")
    created_at: datetime
    mine: bool
    hidden: bool
    hidden_reason: str
    redacted: bool = Field(description="Hidden, and the reader sees the notice, not the text")
    auto_hidden: bool = Field(description="Hidden by reports, waiting for a moderator")
    accepted: bool = Field(description="An accepted answer; a question with an accepted answer")
    answers: int = Field(description="A question's visible answers (0 for an answer)")
    reports: int | None = Field(description="Open reports; for moderators only")
    can_moderate: bool


class QuestionListOut(BaseModel):
    lesson_id: str
    lesson_title: str
    items: list[PostOut]
    total: int
    page: int
    pages: int


class ThreadOut(BaseModel):
    lesson_id: str
    lesson_title: str
    question: PostOut
    answers: list[PostOut]
    can_answer: bool
    can_accept: bool


class PostedOut(BaseModel):
    post: PostOut
    masked: bool = Field(description="Personal data was masked before the post was stored")
    notice: str | None = Field(description="What to tell the author when something was masked")


class ReportedOut(BaseModel):
    id: int
    post_type: Literal["question", "answer"]
    post_id: Id
    hidden_now: bool = Field(description="This report hid the post until a moderator looks")


class ReasonCount(BaseModel):
    reason: str
    count: int


class QueueItemOut(BaseModel):
    post: PostOut
    lesson_title: str
    auto_hidden: bool
    reasons: list[ReasonCount]
    notes: list[str]


def post_out(view: PostView) -> PostOut:
    return PostOut.model_validate(view)


def posted_out(view: PostView, masked: bool) -> PostedOut:
    return PostedOut(post=post_out(view), masked=masked, notice=MASKED_NOTICE if masked else None)


def thread_out(thread: Thread) -> ThreadOut:
    return ThreadOut(
        lesson_id=thread.lesson.id,
        lesson_title=thread.lesson.title,
        question=post_out(thread.question),
        answers=[post_out(a) for a in thread.answers],
        can_answer=thread.can_answer,
        can_accept=thread.can_accept,
    )


def queue_item_out(item: QueueItem) -> QueueItemOut:
    return QueueItemOut(
        post=post_out(item.post),
        lesson_title=item.lesson_title,
        auto_hidden=item.auto_hidden,
        reasons=[ReasonCount(reason=r, count=n) for r, n in item.reasons],
        notes=item.notes,
    )
