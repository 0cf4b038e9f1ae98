"""Feynman mentoring: who mentors which level, the review queue and its reviews, questions
and answers under lessons with their moderation reports, and the teach-backs featured for
the community.

A mentorship is per learner and level (a mentor reviews only levels they completed). A
review item is one reason to look at one submission again (a grading flag, an appeal, a
quality sample): one item per submission and reason, so an appeal is made once. Reviews
are the mentors' (and admins') grades on an item; the decision is kept on the item."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdMixin, TimestampMixin
from app.models.orgs import enum_column


class MentorStatus(enum.StrEnum):
    pending = "pending"  # applied; waiting for a unit admin to confirm
    active = "active"
    rejected = "rejected"
    stepped_down = "stepped_down"  # by the mentor
    removed = "removed"  # by an admin


MENTOR_STATUS_LABELS = {
    MentorStatus.pending: "Chờ xác nhận",
    MentorStatus.active: "Đang hướng dẫn",
    MentorStatus.rejected: "Chưa được xác nhận",
    MentorStatus.stepped_down: "Đã thôi hướng dẫn",
    MentorStatus.removed: "Đã bị gỡ",
}


class Mentorship(IdMixin, TimestampMixin, Base):
    __tablename__ = "mentorships"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    level_number: Mapped[int] = mapped_column(ForeignKey("levels.number", ondelete="RESTRICT"))
    status: Mapped[MentorStatus] = mapped_column(enum_column(MentorStatus, 20))
    unit_path: Mapped[str] = mapped_column(String(500))  # the mentor's unit (admin scope)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str] = mapped_column(String(300), default="")

    __table_args__ = (
        UniqueConstraint("user_id", "level_number"),
        Index("ix_mentorships_status_unit", "status", "unit_path"),
    )


class ReviewKind(enum.StrEnum):
    flagged = "flagged"  # grading flagged it (low confidence, provisional, gates, duplicates)
    appeal = "appeal"  # the learner appealed the grade
    sample = "sample"  # an ordinary grade drawn for quality control


REVIEW_KIND_LABELS = {
    ReviewKind.flagged: "Bài cần xem lại",
    ReviewKind.appeal: "Khiếu nại điểm",
    ReviewKind.sample: "Kiểm tra ngẫu nhiên",
}


class ReviewStatus(enum.StrEnum):
    open = "open"  # waiting for a first review
    second = "second"  # waiting for a second mentor or an admin to decide
    decided = "decided"


class ReviewItem(IdMixin, TimestampMixin, Base):
    __tablename__ = "review_items"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[ReviewKind] = mapped_column(enum_column(ReviewKind, 10))
    status: Mapped[ReviewStatus] = mapped_column(enum_column(ReviewStatus, 10))
    level_number: Mapped[int] = mapped_column()
    unit_path: Mapped[str] = mapped_column(String(500))  # the learner's unit (scope)
    reason: Mapped[str] = mapped_column(Text, default="")  # the appeal's words, or the flags
    auto_score: Mapped[float] = mapped_column()  # the grade under review
    auto_passed: Mapped[bool] = mapped_column()
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    claimed_until: Mapped[datetime | None] = mapped_column()
    decided_score: Mapped[float | None] = mapped_column()
    decided_passed: Mapped[bool | None] = mapped_column()
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column()
    decision_note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        UniqueConstraint("submission_id", "kind"),
        Index("ix_review_items_queue", "status", "level_number", "unit_path"),
        Index("ix_review_items_learner", "learner_id"),
    )


class Review(IdMixin, TimestampMixin, Base):
    __tablename__ = "reviews"

    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))  # mentor | admin | unit_admin
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{id, score, comment}]
    score: Mapped[float] = mapped_column()
    passed: Mapped[bool] = mapped_column()
    feedback: Mapped[str] = mapped_column(Text)
    agrees: Mapped[bool | None] = mapped_column()  # with the decision (calibration)

    __table_args__ = (
        UniqueConstraint("item_id", "reviewer_id"),
        Index("ix_reviews_reviewer", "reviewer_id"),
    )


class Question(IdMixin, TimestampMixin, Base):
    __tablename__ = "questions"

    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    unit_path: Mapped[str] = mapped_column(String(500))  # the asker's unit (moderation scope)
    body: Mapped[str] = mapped_column(Text)  # personal data masked before it is stored
    hidden: Mapped[bool] = mapped_column(default=False)
    hidden_reason: Mapped[str] = mapped_column(String(300), default="")
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reports: Mapped[int] = mapped_column(default=0)  # open reports

    __table_args__ = (
        Index("ix_questions_lesson_created", "lesson_id", "created_at"),
        Index("ix_questions_user_created", "user_id", "created_at"),  # the daily limit
    )


class Answer(IdMixin, TimestampMixin, Base):
    __tablename__ = "answers"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)  # personal data masked before it is stored
    accepted: Mapped[bool] = mapped_column(default=False)
    hidden: Mapped[bool] = mapped_column(default=False)
    hidden_reason: Mapped[str] = mapped_column(String(300), default="")
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reports: Mapped[int] = mapped_column(default=0)  # open reports

    __table_args__ = (
        Index("ix_answers_question_created", "question_id", "created_at"),
        Index("ix_answers_user_created", "user_id", "created_at"),  # the daily limit
    )


class PostReport(IdMixin, TimestampMixin, Base):
    """A report of a question or an answer; one per post and reporter."""

    __tablename__ = "post_reports"

    post_type: Mapped[str] = mapped_column(String(10))  # question | answer
    post_id: Mapped[int] = mapped_column()
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(300), default="")
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("post_type", "post_id", "reporter_id"),
        Index("ix_post_reports_open", "resolved_at", "post_type"),
    )


class FeaturedTeachBack(IdMixin, TimestampMixin, Base):
    """A teach-back shown under its lesson as "Giải thích từ cộng đồng" (its author
    consented when sending it; withdrawing the consent takes it down)."""

    __tablename__ = "featured_teach_backs"

    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), unique=True
    )
    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id", ondelete="RESTRICT"))
    featured_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (Index("ix_featured_teach_backs_lesson", "lesson_id"),)
