"""Pages: the mentor's queue and review form, becoming a mentor, the learner's appeal form,
and the administrators' page of mentors."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import (
    AdminOrUnitAdmin,
    CsrfProtected,
    LimiterDep,
    SettingsDep,
    SignedIn,
)
from app.auth.scope import scope_path
from app.auth.service import Principal
from app.config import Settings
from app.core.errors import AppError
from app.core.ids import Id
from app.core.markdown import render_markdown
from app.db import SessionDep, savepoint
from app.mentoring import credit, mentors, review
from app.mentoring.router import (
    APPEALS_PER_HOUR,
    REVIEWS_PER_HOUR,
    item_out,
    limit,
    mentorship_in_scope,
    queue_out,
)
from app.models import (
    MENTOR_STATUS_LABELS,
    Mentorship,
    MentorStatus,
    ReviewItem,
    Role,
    Submission,
    utcnow,
)
from app.templating import redirect, render

router = APIRouter(include_in_schema=False)
Level = Annotated[int, Path(ge=1, le=5)]
Reason = Annotated[str, Form(max_length=500)]
BAND_NAMES = {0: "Chưa có", 1: "Còn yếu", 2: "Đạt", 3: "Tốt"}
DONE = {
    "review": "Đã gửi bài chấm. Cảm ơn bạn!",
    "second": "Đã gửi bài chấm; mục này chờ người thứ hai quyết định.",
    "applied": "Đã gửi đăng ký làm người hướng dẫn.",
    "stepped_down": "Bạn đã thôi hướng dẫn bậc này.",
}


@router.get("/mentor", response_class=HTMLResponse)
def mentor_home(
    request: Request,
    principal: SignedIn,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The queue (mentors and admins); learners are shown how to become a mentor."""
    if principal.user.role == Role.learner:
        return redirect("/mentor/levels")
    found = review.queue(session, principal, now=utcnow())
    return render(
        request,
        "mentoring/queue.html",
        {
            "queue": queue_out(session, found),
            "credit": credit.summary(session, principal.user.id),
            "recent": review.reviewed_by(session, principal.user.id, limit=10),
            "done": DONE.get(done or ""),
            "section": "mentor",
        },
    )


@router.get("/mentor/levels", response_class=HTMLResponse)
def mentor_levels(
    request: Request,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _levels_page(request, session, settings, principal, done=DONE.get(done or ""))


def _levels_page(
    request: Request,
    session: Session,
    settings: Settings,
    principal: Principal,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "mentoring/levels.html",
        {
            "standings": mentors.standings(session, principal.user, settings),
            "labels": MENTOR_STATUS_LABELS,
            "settings": settings,
            "done": done,
            "error": error,
            "auto": settings.mentor_auto_confirm,
            "section": "mentor",
        },
        status_code,
    )


@router.post("/mentor/levels/{level}/apply", dependencies=[CsrfProtected])
def apply_page(
    request: Request, level: Level, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        with savepoint(session):
            mentors.apply(
                session, user=principal.user, level_number=level, settings=settings, now=utcnow()
            )
    except AppError as exc:
        return _levels_page(
            request, session, settings, principal, error=exc.message, status_code=exc.status_code
        )
    return redirect("/mentor/levels?done=applied")


@router.post("/mentor/levels/{level}/step-down", dependencies=[CsrfProtected])
def step_down_page(
    request: Request,
    level: Level,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    reason: Reason = "",
) -> Response:
    row = session.scalar(
        select(Mentorship).where(
            Mentorship.user_id == principal.user.id, Mentorship.level_number == level
        )
    )
    try:
        if row is None:
            raise AppError("Bạn không hướng dẫn bậc này.", status_code=404)
        with savepoint(session):
            mentors.end(
                session,
                row=row,
                actor_id=principal.user.id,
                by_admin=False,
                reason=reason.strip()[:300],
                now=utcnow(),
            )
    except AppError as exc:
        return _levels_page(
            request, session, settings, principal, error=exc.message, status_code=exc.status_code
        )
    return redirect("/mentor/levels?done=stepped_down")


@router.get("/mentor/items/{item_id}", response_class=HTMLResponse)
def item_page(
    request: Request, item_id: Id, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> Response:
    item = review.open_item(session, principal, item_id=item_id, settings=settings, now=utcnow())
    return _item_page(request, session, principal, item)


def _item_page(
    request: Request,
    session: Session,
    principal: Principal,
    item: ReviewItem,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    view = review.item_view(session, item)
    return render(
        request,
        "mentoring/item.html",
        {
            "it": item_out(view, principal),
            "task_html": render_markdown(view.task.task),
            "values": values or {},
            "error": error,
            "band_names": BAND_NAMES,
            "section": "mentor",
        },
        status_code,
    )


@router.post("/mentor/items/{item_id}", dependencies=[CsrfProtected])
async def review_page(
    request: Request,
    item_id: Id,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> Response:
    """The rubric form: score_<criterion> (a band), comment_<criterion>, feedback. The form
    is read on the event loop; the database work runs in a thread."""
    form = await request.form()
    values = {k: str(v)[:2000] for k, v in form.items() if isinstance(v, str)}
    scores: dict[str, int] = {}
    comments: dict[str, str] = {}
    for key, value in values.items():
        if key.startswith("score_") and value.isdigit():
            scores[key[6:]] = int(value)
        elif key.startswith("comment_"):
            comments[key[8:]] = value

    def work() -> Response:
        try:
            limit(limiter, f"review:{principal.user.id}", REVIEWS_PER_HOUR)
            with savepoint(session):
                item = review.submit_review(
                    session,
                    principal,
                    item_id=item_id,
                    scores=scores,
                    comments=comments,
                    feedback=values.get("feedback", ""),
                    settings=settings,
                    now=utcnow(),
                )
        except AppError as exc:
            item = review.get_item(session, item_id)
            review.open_item(session, principal, item_id=item_id, settings=settings, now=utcnow())
            return _item_page(
                request,
                session,
                principal,
                item,
                values=values,
                error=exc.message,
                status_code=exc.status_code,
            )
        return redirect("/mentor?done=" + ("second" if item.status.value == "second" else "review"))

    return await run_in_threadpool(work)


@router.post("/submissions/{submission_id}/appeal", dependencies=[CsrfProtected])
def appeal_page(
    submission_id: Id,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    reason: Reason = "",
) -> Response:
    """The appeal form under a graded submission; back to the lesson either way (an error
    is shown there, under the submission)."""
    submission = session.get(Submission, submission_id)
    if submission is None or submission.user_id != principal.user.id:
        raise AppError("Không tìm thấy bài làm này.", status_code=404)
    anchor = f"/lessons/{submission.lesson_id}"
    try:
        limit(limiter, f"appeal:{principal.user.id}", APPEALS_PER_HOUR)
        with savepoint(session):
            review.appeal(
                session,
                user=principal.user,
                submission_id=submission_id,
                reason=reason,
                settings=settings,
                now=utcnow(),
            )
    except AppError as exc:
        return redirect(
            f"{anchor}?appeal_error={quote(exc.message)}&appeal_for={submission_id}"
            f"#s{submission_id}"
        )
    return redirect(f"{anchor}?appealed={submission_id}#s{submission_id}")


# ---- administrators -------------------------------------------------------------------------
@router.get("/admin/mentors", response_class=HTMLResponse)
def admin_mentors_page(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    status: Annotated[MentorStatus | None, Query()] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Applications to confirm first, then the mentors, in my scope."""
    under = scope_path(principal)
    pending = mentors.listing(session, under_path=under, status=MentorStatus.pending)
    others = mentors.listing(session, under_path=under, status=status or MentorStatus.active)
    return render(
        request,
        "mentoring/admin_mentors.html",
        {
            "pending": pending,
            "others": others,
            "status": (status or MentorStatus.active).value,
            "labels": MENTOR_STATUS_LABELS,
            "done": done,
            "counts": review.counts(session, under_path=under),
            "section": "mentors",
        },
    )


@router.post("/admin/mentors/{mentorship_id}/{action}", dependencies=[CsrfProtected])
def admin_mentor_action(
    mentorship_id: Id,
    action: Annotated[str, Path(pattern="^(confirm|reject|remove)$")],
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    reason: Reason = "",
) -> Response:
    row = mentorship_in_scope(session, principal, mentorship_id)
    mentors.act(
        session, row=row, actor_id=principal.user.id, action=action, reason=reason, now=utcnow()
    )
    return redirect(f"/admin/mentors?done={action}")
