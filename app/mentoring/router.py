"""JSON API: becoming a mentor, the review queue and reviews, appeals, and the admins'
confirmations and removals of mentors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.dependencies import AdminOrUnitAdmin, LimiterDep, SettingsDep, SignedIn
from app.auth.scope import ensure_in_scope, scope_path
from app.auth.service import Principal
from app.config import Settings
from app.core.errors import NotFound
from app.core.ids import Id
from app.core.ratelimit import RateLimiter, enforce
from app.db import SessionDep
from app.grading.pipeline import FLAG_LABELS
from app.mentoring import mentors, review
from app.mentoring.schemas import (
    AppealIn,
    AppealOut,
    CriterionOut,
    ItemOut,
    MentoringOut,
    MentorLevelOut,
    MentorshipOut,
    QueueItemOut,
    QueueOut,
    ReasonIn,
    ReviewIn,
    ReviewOut,
)
from app.models import (
    MENTOR_STATUS_LABELS,
    REVIEW_KIND_LABELS,
    Lesson,
    Mentorship,
    MentorStatus,
    ReviewItem,
    ReviewKind,
    Submission,
    User,
    utcnow,
)
from app.openapi import errors

router = APIRouter(tags=["mentoring"])
Level = Annotated[int, Path(ge=1, le=5)]
APPEALS_PER_HOUR = 10
REVIEWS_PER_HOUR = 120


def limit(limiter: RateLimiter, key: str, most: int) -> None:
    """A per-person hourly cap (appeals, reviews)."""
    enforce(
        limiter,
        key,
        limit=most,
        window=3600,
        message="Bạn thao tác quá nhiều lần trong một giờ. Hãy thử lại sau ít phút.",
    )


def mentoring_out(session: Session, user: User, settings: Settings) -> MentoringOut:
    return MentoringOut(
        role=user.role.value,
        active_levels=sorted(mentors.active_levels(session, user.id)),
        levels=[
            MentorLevelOut(
                level=s.level_number,
                level_title=s.level_title,
                completed=s.completed,
                average=s.average,
                longest_streak=s.longest_streak,
                eligible=s.eligible,
                status=s.status.value if s.status else None,
                missing=list(s.missing),
            )
            for s in mentors.standings(session, user, settings)
        ],
    )


def queue_out(session: Session, found: review.Queue) -> QueueOut:
    titles = _lesson_titles(session, found.items)
    return QueueOut(
        scope_unit=found.scope_name,
        widened=found.widened,
        levels=sorted(found.levels),
        items=[
            QueueItemOut(
                id=i.id,
                kind=i.kind.value,
                kind_text=REVIEW_KIND_LABELS[i.kind],
                status=i.status.value,
                level=i.level_number,
                lesson_id=titles[i.id][0],
                lesson_title=titles[i.id][1],
                waiting_since=i.created_at,
                auto_score=i.auto_score,
                reason=i.reason if i.kind == ReviewKind.appeal else flag_text(i.reason),
            )
            for i in found.items
        ],
    )


def _lesson_titles(session: Session, items: list[ReviewItem]) -> dict[int, tuple[str, str]]:
    if not items:
        return {}
    rows = session.execute(
        select(Submission.id, Lesson.id, Lesson.title)
        .join(Lesson, Lesson.id == Submission.lesson_id)
        .where(Submission.id.in_([i.submission_id for i in items]))
    )
    by_submission = {sid: (lid, title) for sid, lid, title in rows}
    return {i.id: by_submission[i.submission_id] for i in items}


def item_out(view: review.ItemView, principal: Principal) -> ItemOut:
    item, submission = view.item, view.submission
    return ItemOut(
        id=item.id,
        kind=item.kind.value,
        kind_text=REVIEW_KIND_LABELS[item.kind],
        status=item.status.value,
        level=item.level_number,
        lesson_id=submission.lesson_id,
        lesson_title=view.lesson_title,
        task=view.task.task,
        pass_mark=view.task.pass_mark,
        text=submission.text,
        image_url=f"/media/submissions/{submission.image_name}" if submission.image_name else None,
        auto_score=item.auto_score,
        auto_passed=item.auto_passed,
        auto_feedback=view.auto_feedback,
        reason=item.reason if item.kind == ReviewKind.appeal else flag_text(item.reason),
        criteria=[
            CriterionOut(
                id=c.id,
                name=c.name,
                weight=c.weight,
                bands=c.bands,
                auto_score=view.auto_criteria.get(c.id, {}).get("score"),
                auto_comment=view.auto_criteria.get(c.id, {}).get("comment"),
            )
            for c in view.task.criteria
        ],
        reviews=[
            ReviewOut(
                id=r.id,
                role=r.role,
                score=r.score,
                passed=r.passed,
                feedback=r.feedback,
                criteria=r.criteria,
                agrees=r.agrees,
                mine=r.reviewer_id == principal.user.id,
            )
            for r in view.reviews
        ],
        decided_score=item.decided_score,
        decided_passed=item.decided_passed,
        decision_note=item.decision_note,
        claimed_until=item.claimed_until,
    )


def flag_text(flags: str) -> str:
    """Grading's flags ("low_confidence, near_duplicate") in Vietnamese."""
    codes = [f.strip() for f in flags.split(",") if f.strip()]
    return "; ".join(FLAG_LABELS.get(code, code) for code in codes)


def mentorship_out(row: Mentorship, user: User) -> MentorshipOut:
    return MentorshipOut(
        id=row.id,
        user_id=user.id,
        full_name=user.full_name,
        level=row.level_number,
        status=row.status.value,
        status_text=MENTOR_STATUS_LABELS[row.status],
        unit_path=row.unit_path,
        reason=row.reason,
        updated_at=row.updated_at,
    )


# ---- the learner: becoming a mentor, appeals ------------------------------------------------
@router.get("/me/mentoring", response_model=MentoringOut)
def my_mentoring(principal: SignedIn, session: SessionDep, settings: SettingsDep) -> MentoringOut:
    """Where I stand toward mentoring each level, and the levels I mentor."""
    return mentoring_out(session, principal.user, settings)


@router.post(
    "/me/mentoring/{level}/apply",
    response_model=MentoringOut,
    status_code=201,
    responses=errors(409),
)
def apply_to_mentor(
    level: Level, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> MentoringOut:
    mentors.apply(session, user=principal.user, level_number=level, settings=settings, now=utcnow())
    return mentoring_out(session, principal.user, settings)


@router.post("/me/mentoring/{level}/step-down", response_model=MentoringOut, responses=errors(409))
def step_down(
    level: Level,
    body: ReasonIn,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
) -> MentoringOut:
    row = session.scalar(
        select(Mentorship).where(
            Mentorship.user_id == principal.user.id, Mentorship.level_number == level
        )
    )
    if row is None:
        raise NotFound("Bạn không hướng dẫn bậc này.")
    mentors.end(
        session,
        row=row,
        actor_id=principal.user.id,
        by_admin=False,
        reason=body.reason.strip(),
        now=utcnow(),
    )
    return mentoring_out(session, principal.user, settings)


@router.post(
    "/submissions/{submission_id}/appeal",
    response_model=AppealOut,
    status_code=201,
    responses=errors(409),
)
def appeal_grade(
    submission_id: Id,
    body: AppealIn,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> AppealOut:
    """Ask a mentor to look at a grade again: once per submission, with a short reason."""
    limit(limiter, f"appeal:{principal.user.id}", APPEALS_PER_HOUR)
    item = review.appeal(
        session,
        user=principal.user,
        submission_id=submission_id,
        reason=body.reason,
        settings=settings,
        now=utcnow(),
    )
    return AppealOut(**review.appeal_state(item))  # type: ignore[arg-type]


@router.get("/submissions/{submission_id}/appeal", response_model=AppealOut)
def appeal_status(submission_id: Id, principal: SignedIn, session: SessionDep) -> AppealOut:
    item = review.appeal_of(session, submission_id)
    if item is None or item.learner_id != principal.user.id:
        raise NotFound("Bài làm này chưa có khiếu nại.")
    return AppealOut(**review.appeal_state(item))  # type: ignore[arg-type]


# ---- the mentor's work ----------------------------------------------------------------------
@router.get("/mentor/queue", response_model=QueueOut)
def mentor_queue(principal: SignedIn, session: SessionDep) -> QueueOut:
    """What waits for me: appeals and second opinions first, then flagged work, then
    samples; my unit's subtree first, wider only when nothing waits nearer."""
    return queue_out(session, review.queue(session, principal, now=utcnow()))


@router.get("/mentor/items/{item_id}", response_model=ItemOut, responses=errors(409))
def mentor_item(
    item_id: Id, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> ItemOut:
    """One item, with the rubric; opening it holds it for me for a while."""
    item = review.open_item(session, principal, item_id=item_id, settings=settings, now=utcnow())
    return item_out(review.item_view(session, item), principal)


@router.post("/mentor/items/{item_id}/review", response_model=ItemOut, responses=errors(409))
def mentor_review(
    item_id: Id,
    body: ReviewIn,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> ItemOut:
    limit(limiter, f"review:{principal.user.id}", REVIEWS_PER_HOUR)
    item = review.submit_review(
        session,
        principal,
        item_id=item_id,
        scores=body.scores,
        comments=body.comments,
        feedback=body.feedback,
        settings=settings,
        now=utcnow(),
    )
    return item_out(review.item_view(session, item), principal)


# ---- administrators: confirming and removing mentors ----------------------------------------
@router.get("/admin/mentors", response_model=list[MentorshipOut])
def admin_mentors(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    status: Annotated[MentorStatus | None, Query()] = None,
) -> list[MentorshipOut]:
    """Applications and mentors in my scope, newest first."""
    rows = mentors.listing(session, under_path=scope_path(principal), status=status)
    return [mentorship_out(m, u) for m, u in rows]


def mentorship_in_scope(session: Session, principal: Principal, mentorship_id: int) -> Mentorship:
    row = session.get(Mentorship, mentorship_id)
    if row is None:
        raise NotFound("Không tìm thấy người hướng dẫn này.")
    ensure_in_scope(principal, row.unit_path)
    return row


@router.post(
    "/admin/mentors/{mentorship_id}/{action}", response_model=MentorshipOut, responses=errors(409)
)
def mentor_action(
    mentorship_id: Id,
    action: Annotated[str, Path(pattern="^(confirm|reject|remove)$")],
    body: ReasonIn,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
) -> MentorshipOut:
    """Confirm or turn down an application, or remove a mentor (a reason is required)."""
    row = mentorship_in_scope(session, principal, mentorship_id)
    mentors.act(
        session,
        row=row,
        actor_id=principal.user.id,
        action=action,
        reason=body.reason,
        now=utcnow(),
    )
    user = session.get(User, row.user_id)
    assert user is not None
    return mentorship_out(row, user)
