"""JSON API for what mentoring gives the community: teach-backs featured under lessons (and
their authors' consent), the mentor board, and the active mentors of a unit's subtree."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from app.auth.dependencies import (
    ADMIN_ROLES,
    AdminOrUnitAdmin,
    RequireRole,
    SettingsDep,
    SignedIn,
)
from app.auth.scope import ensure_in_scope
from app.auth.service import Principal
from app.core.clock import local_day
from app.core.errors import NotFound
from app.core.ids import Id
from app.core.schemas import JsonIn
from app.db import SessionDep
from app.gamification.periods import PeriodName
from app.learning import path
from app.mentoring import credit, teach_backs
from app.models import Role, Unit, utcnow
from app.openapi import errors

router = APIRouter(tags=["mentoring"])
LessonId = Annotated[str, Path(max_length=80, pattern=r"^[a-z0-9-]+$")]
LevelFilter = Annotated[int | None, Query(ge=1, le=5)]
# who may feature: the rule admits mentors and admins; the service checks levels and scope
MentorOrAdmin = Annotated[Principal, Depends(RequireRole(Role.mentor, *ADMIN_ROLES))]


# ---- schemas ---------------------------------------------------------------------------


class FeaturedOut(BaseModel):
    submission_id: int
    lesson_id: str
    author: str = Field(description="The author's given name only")
    text: str = Field(description="Plain text, personal data masked")
    score: float
    featured_at: datetime


class CandidateOut(BaseModel):
    submission_id: int
    author: str = Field(description="The author's given name")
    unit: str
    text: str = Field(description="Plain text, personal data masked")
    masked: bool
    score: float
    sent_at: datetime
    featured: bool


class LessonTeachBacksOut(BaseModel):
    lesson_id: str
    title: str
    level: int
    featured_total: int = Field(description="Featured anywhere; the lesson shows the best few")
    featured: list[CandidateOut] = Field(description="Featured, in your scope")
    candidates: list[CandidateOut]


class FeatureOut(BaseModel):
    submission_id: int
    lesson_id: str
    featured: bool
    points_awarded: int = Field(description="Points written now (0 when paid before)")


class ConsentIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    share_consent: bool


class ConsentOut(BaseModel):
    submission_id: int
    share_consent: bool
    featured: bool


class CreditRowOut(BaseModel):
    rank: int
    position: int
    name: str
    unit: str
    points: int
    is_me: bool


class MentorBoardOut(BaseModel):
    period: str
    period_key: str
    scope: str
    unit: str | None
    size: int
    top: list[CreditRowOut]
    me: CreditRowOut | None


class ChildMentorsOut(BaseModel):
    unit_id: int
    name: str
    active_mentors: int


class UnitMentorsOut(BaseModel):
    unit_id: int
    active_mentors: int = Field(description="Active mentors in the unit's whole subtree")
    by_child: list[ChildMentorsOut]


def _candidate_out(c: teach_backs.Candidate) -> CandidateOut:
    return CandidateOut(
        submission_id=c.submission_id,
        author=c.author,
        unit=c.unit,
        text=c.text,
        masked=c.masked,
        score=c.score,
        sent_at=c.sent_at,
        featured=c.featured,
    )


def _row_out(r: credit.CreditRow) -> CreditRowOut:
    return CreditRowOut(
        rank=r.rank, position=r.position, name=r.name, unit=r.unit, points=r.points, is_me=r.is_me
    )


# ---- featured teach-backs --------------------------------------------------------------


@router.get("/lessons/{lesson_id}/teach-backs", response_model=list[FeaturedOut])
def lesson_teach_backs(
    lesson_id: LessonId, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> list[FeaturedOut]:
    """The teach-backs featured under a lesson the caller can open, best first."""
    path.open_lesson(session, principal.user.id, lesson_id)
    return [
        FeaturedOut(
            submission_id=f.submission_id,
            lesson_id=f.lesson_id,
            author=f.author,
            text=f.text,
            score=f.score,
            featured_at=f.featured_at,
        )
        for f in teach_backs.featured_for_lesson(session, lesson_id=lesson_id, settings=settings)
    ]


@router.post("/submissions/{submission_id}/consent", response_model=ConsentOut)
def set_consent(
    submission_id: Id, body: ConsentIn, principal: SignedIn, session: SessionDep
) -> ConsentOut:
    """The author gives or withdraws consent to feature their teach-back; withdrawing
    takes it down from under the lesson."""
    outcome = teach_backs.set_consent(
        session,
        user_id=principal.user.id,
        submission_id=submission_id,
        consent=body.share_consent,
    )
    return ConsentOut(
        submission_id=outcome.submission_id,
        share_consent=body.share_consent,
        featured=outcome.featured,
    )


@router.get("/mentor/teach-backs", response_model=list[LessonTeachBacksOut])
def mentor_teach_backs(
    principal: MentorOrAdmin, session: SessionDep, level: LevelFilter = None
) -> list[LessonTeachBacksOut]:
    """For mentors (their levels, their unit's subtree) and admins (their scope): per
    lesson, the teach-backs featured and the best candidates to feature."""
    reviewer = teach_backs.reviewer_of(session, principal)
    return [
        LessonTeachBacksOut(
            lesson_id=item.lesson_id,
            title=item.title,
            level=item.level,
            featured_total=item.featured_total,
            featured=[_candidate_out(c) for c in item.featured],
            candidates=[_candidate_out(c) for c in item.candidates],
        )
        for item in teach_backs.review_list(session, reviewer, level=level)
    ]


@router.post(
    "/mentor/teach-backs/{submission_id}/feature", response_model=FeatureOut, responses=errors(409)
)
def feature(
    submission_id: Id,
    principal: MentorOrAdmin,
    session: SessionDep,
    settings: SettingsDep,
) -> FeatureOut:
    """Show a consented, passed teach-back under its lesson; its author is told and earns
    `points_teach_back_featured` once."""
    outcome = teach_backs.feature(
        session,
        principal=principal,
        submission_id=submission_id,
        settings=settings,
        now=utcnow(),
    )
    return FeatureOut(**outcome.__dict__)


@router.post(
    "/mentor/teach-backs/{submission_id}/unfeature",
    response_model=FeatureOut,
    responses=errors(409),
)
def unfeature(submission_id: Id, principal: MentorOrAdmin, session: SessionDep) -> FeatureOut:
    """Take a featured teach-back down (its author keeps the points)."""
    outcome = teach_backs.unfeature(session, principal=principal, submission_id=submission_id)
    return FeatureOut(**outcome.__dict__)


# ---- mentor credit ---------------------------------------------------------------------


@router.get("/mentors/board", response_model=MentorBoardOut)
def mentor_board(
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    period: PeriodName = "month",
    scope: credit.MentorScope = "all",
) -> MentorBoardOut:
    """Mentors ranked by the points they earned helping others (reviews, accepted answers,
    featured teach-backs): the top 50 and the caller's own place when they have credit.
    `scope=unit` is the caller's unit subtree."""
    view = credit.board(
        session,
        viewer_id=principal.user.id,
        viewer_unit_path=principal.unit_path,
        period=period,
        scope=scope,
        today=local_day(utcnow(), settings.tz),
    )
    return MentorBoardOut(
        period=view.period,
        period_key=view.period_key,
        scope=view.scope,
        unit=view.unit_name,
        size=view.size,
        top=[_row_out(r) for r in view.top],
        me=_row_out(view.me) if view.me else None,
    )


@router.get("/units/{unit_id}/mentors", response_model=UnitMentorsOut)
def unit_mentors(unit_id: Id, principal: AdminOrUnitAdmin, session: SessionDep) -> UnitMentorsOut:
    """Active mentors in the unit's subtree and in each child unit's (administrators in
    scope)."""
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị.", code="unknown_unit")
    ensure_in_scope(principal, unit.path)
    return UnitMentorsOut.model_validate(credit.unit_mentors(session, unit))
