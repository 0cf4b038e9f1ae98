"""Pages for what mentoring gives the community: the mentor board (Người hướng dẫn tiêu
biểu), the mentors' list of teach-backs to feature, and the learner's own shared
teach-backs with their consent. Plain form posts; every tab is a link."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.dependencies import CsrfProtected, SettingsDep, SignedIn
from app.auth.service import Principal
from app.core.clock import local_day
from app.core.errors import AppError
from app.core.ids import Id
from app.db import SessionDep, savepoint
from app.gamification import periods
from app.mentoring import credit, teach_backs
from app.mentoring.community_router import MentorOrAdmin
from app.models import utcnow
from app.templating import redirect, render, safe_next

router = APIRouter(include_in_schema=False)

Word = Annotated[str, Query(max_length=20)]
BOARD_PERIODS: tuple[periods.PeriodName, ...] = ("week", "month", "all")
DONE_MESSAGES = {
    "featured": "Đã giới thiệu bài giảng lại dưới bài học. Tác giả đã được báo tin.",
    "unfeatured": "Đã gỡ bài giảng lại khỏi trang bài học.",
}


def _choice(value: str, allowed: tuple[str, ...], default: str, message: str, code: str) -> str:
    if value == "":
        return default
    if value not in allowed:
        raise AppError(message, code=code)  # 400, a Vietnamese error page
    return value


def _level(value: str) -> int | None:
    if value == "":
        return None
    if value not in ("1", "2", "3", "4", "5"):
        raise AppError("Bậc không hợp lệ.", code="bad_level")
    return int(value)


# ---- the mentor board ------------------------------------------------------------------


@router.get("/mentors/board", response_class=HTMLResponse)
def mentor_board(
    request: Request,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    period: Word = "",
    scope: Word = "",
) -> Response:
    chosen_period = _choice(
        period,
        BOARD_PERIODS,
        "month",
        "Kỳ xếp hạng không hợp lệ. Hãy chọn Tuần này, Tháng này hoặc Mọi lúc.",
        "bad_period",
    )
    chosen_scope = _choice(
        scope,
        credit.MENTOR_SCOPES,
        "all",
        "Phạm vi không hợp lệ. Hãy chọn Toàn bộ hoặc Đơn vị của tôi.",
        "bad_scope",
    )
    view = credit.board(
        session,
        viewer_id=principal.user.id,
        viewer_unit_path=principal.unit_path,
        period=cast(periods.PeriodName, chosen_period),
        scope=cast(credit.MentorScope, chosen_scope),
        today=local_day(utcnow(), settings.tz),
    )
    return render(
        request,
        "mentoring/board.html",
        {
            "board": view,
            "periods": [(p, periods.PERIOD_LABELS[p]) for p in BOARD_PERIODS],
            "scopes": [(s, credit.MENTOR_SCOPE_LABELS[s]) for s in credit.MENTOR_SCOPES],
            "me_outside_top": view.me is not None and view.me.position > len(view.top),
            "points": {
                "review": settings.points_mentor_review,
                "answer": settings.points_answer_accepted,
                "featured": settings.points_teach_back_featured,
            },
            "section": "mentor",
        },
    )


# ---- the mentors' list of teach-backs --------------------------------------------------


def _review_page(
    request: Request,
    principal: Principal,
    session: SessionDep,
    settings: SettingsDep,
    *,
    level: int | None,
    done: str = "",
    error: str = "",
    status_code: int = 200,
) -> Response:
    reviewer = teach_backs.reviewer_of(session, principal)
    return render(
        request,
        "mentoring/teach_backs.html",
        {
            "lessons": teach_backs.review_list(session, reviewer, level=level),
            "levels": sorted(reviewer.levels) if reviewer.levels is not None else [1, 2, 3, 4, 5],
            "level": level,
            "done": DONE_MESSAGES.get(done, ""),
            "error": error,
            "min_score": teach_backs.MIN_SCORE,
            "per_lesson": settings.featured_per_lesson,
            "points": settings.points_teach_back_featured,
            "section": "mentor",
        },
        status_code,
    )


@router.get("/mentor/teach-backs", response_class=HTMLResponse)
def mentor_teach_backs(
    request: Request,
    principal: MentorOrAdmin,
    session: SessionDep,
    settings: SettingsDep,
    level: Word = "",
    done: Word = "",
) -> Response:
    return _review_page(request, principal, session, settings, level=_level(level), done=done)


def _back(level: int | None, done: str, lesson_id: str) -> str:
    query = f"?level={level}&done={done}" if level else f"?done={done}"
    return f"/mentor/teach-backs{query}#lesson-{lesson_id}"


@router.post("/mentor/teach-backs/{submission_id}/feature", dependencies=[CsrfProtected])
def feature_submit(
    request: Request,
    submission_id: Id,
    principal: MentorOrAdmin,
    session: SessionDep,
    settings: SettingsDep,
    level: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    chosen = _level(level)
    try:
        with savepoint(session):
            outcome = teach_backs.feature(
                session,
                principal=principal,
                submission_id=submission_id,
                settings=settings,
                now=utcnow(),
            )
    except AppError as exc:
        if exc.status_code != 409:
            raise
        return _review_page(
            request, principal, session, settings, level=chosen, error=exc.message, status_code=409
        )
    return redirect(_back(chosen, "featured", outcome.lesson_id))


@router.post("/mentor/teach-backs/{submission_id}/unfeature", dependencies=[CsrfProtected])
def unfeature_submit(
    request: Request,
    submission_id: Id,
    principal: MentorOrAdmin,
    session: SessionDep,
    settings: SettingsDep,
    level: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    chosen = _level(level)
    try:
        with savepoint(session):
            outcome = teach_backs.unfeature(
                session, principal=principal, submission_id=submission_id
            )
    except AppError as exc:
        if exc.status_code != 409:
            raise
        return _review_page(
            request, principal, session, settings, level=chosen, error=exc.message, status_code=409
        )
    return redirect(_back(chosen, "unfeatured", outcome.lesson_id))


# ---- the learner's consent -------------------------------------------------------------


@router.get("/me/teach-backs", response_class=HTMLResponse)
def my_teach_backs(
    request: Request, principal: SignedIn, session: SessionDep, done: Word = ""
) -> Response:
    """The learner's teach-backs they agreed to share, each with a way to withdraw."""
    return render(
        request,
        "mentoring/my_teach_backs.html",
        {
            "shared": teach_backs.my_shared(session, principal.user.id),
            "withdrawn": done == "withdrawn",
            "section": "progress",
        },
    )


@router.post("/submissions/{submission_id}/consent", dependencies=[CsrfProtected])
def consent_submit(
    submission_id: Id,
    principal: SignedIn,
    session: SessionDep,
    share_consent: Annotated[bool, Form()] = False,
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Give or withdraw consent from a page (withdrawing takes a featured one down)."""
    teach_backs.set_consent(
        session, user_id=principal.user.id, submission_id=submission_id, consent=share_consent
    )
    default = "/me/teach-backs" + ("" if share_consent else "?done=withdrawn")
    return redirect(safe_next(next, default))
