"""Pages for questions and answers under lessons: a lesson's questions with the ask form, a
thread with its answers (answer, accept, report, hide and show again), and the moderators'
queue. Plain form posts that redirect; a refused post re-shows its page with the message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.dependencies import CsrfProtected, SettingsDep, SignedIn
from app.auth.service import Principal
from app.core.errors import AppError
from app.core.ids import Id
from app.db import SessionDep, savepoint
from app.mentoring import questions
from app.mentoring.questions import PostType
from app.mentoring.questions_router import Moderator
from app.models import utcnow
from app.templating import redirect, render, safe_next

router = APIRouter(include_in_schema=False)

NOTICES = {
    "masked": questions.MASKED_NOTICE,
    "asked": "Đã đăng câu hỏi. Bạn sẽ nhận thông báo khi có người trả lời.",
    "answered": "Đã đăng câu trả lời. Cảm ơn bạn đã giúp đỡ!",
    "accepted": "Đã chấp nhận câu trả lời. Cảm ơn bạn!",
    "reported": "Cảm ơn bạn đã báo cáo. Người hướng dẫn sẽ xem xét bài viết này.",
    "auto_hidden": "Cảm ơn bạn đã báo cáo. Bài viết đã được tạm ẩn để người hướng dẫn xem xét.",
    "hidden": "Đã ẩn bài viết và báo cho tác giả.",
    "shown": "Đã hiển thị bài viết và đóng các báo cáo.",
}
Body = Annotated[str, Form(max_length=20_000)]


def _notices(request: Request) -> list[tuple[str, str]]:
    """What the redirect after a post tells: (alert class, message)."""
    keys = request.query_params.getlist("done")
    return [("info" if k == "masked" else "ok", NOTICES[k]) for k in keys if k in NOTICES]


def _attempt(work: Callable[[], Response], on_error: Callable[[AppError], Response]) -> Response:
    """Run a form's work; a refusal other than 403/404 re-shows the page with the message."""
    try:
        return work()
    except AppError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        return on_error(exc)


def _list_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    lesson_id: str,
    *,
    page: int = 1,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    reader = questions.reader_of(principal)
    found = questions.list_questions(session, reader=reader, lesson_id=lesson_id, page=page)
    return render(
        request,
        "mentoring/questions.html",
        {
            "found": found,
            "lesson": found.lesson,
            "reader": reader,
            "limits": questions.QUESTION_CHARS,
            "errors": errors or {},
            "values": values or {},
            "notices": _notices(request),
            "section": "levels",
        },
        status_code,
    )


@router.get("/lessons/{lesson_id}/questions", response_class=HTMLResponse)
def lesson_questions(
    request: Request,
    lesson_id: str,
    principal: SignedIn,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    return _list_page(request, session, principal, lesson_id, page=page)


@router.post("/lessons/{lesson_id}/questions", dependencies=[CsrfProtected])
def ask(
    request: Request,
    lesson_id: str,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    body: Body = "",
) -> Response:
    def work() -> Response:
        with savepoint(session):
            question, masked = questions.ask(
                session,
                reader=questions.reader_of(principal),
                lesson_id=lesson_id,
                body=body,
                settings=settings,
                now=utcnow(),
            )
        done = "done=asked" + ("&done=masked" if masked else "")
        return redirect(f"/questions/{question.id}?{done}")

    return _attempt(
        work,
        lambda exc: _list_page(
            request,
            session,
            principal,
            lesson_id,
            errors={"body": exc.message},
            values={"body": body},
            status_code=exc.status_code,
        ),
    )


def _thread_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    question_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    reader = questions.reader_of(principal)
    thread = questions.get_thread(session, reader=reader, question_id=question_id)
    return render(
        request,
        "mentoring/question.html",
        {
            "thread": thread,
            "lesson": thread.lesson,
            "q": thread.question,
            "reader": reader,
            "limits": questions.ANSWER_CHARS,
            "report_reasons": questions.REPORT_REASONS,
            "errors": errors or {},
            "values": values or {},
            "notices": _notices(request),
            "section": "levels",
        },
        status_code,
    )


@router.get("/questions/{question_id}", response_class=HTMLResponse)
def thread(request: Request, question_id: Id, principal: SignedIn, session: SessionDep) -> Response:
    return _thread_page(request, session, principal, question_id)


@router.post("/questions/{question_id}/answers", dependencies=[CsrfProtected])
def answer(
    request: Request,
    question_id: Id,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    body: Body = "",
) -> Response:
    def work() -> Response:
        with savepoint(session):
            row, masked = questions.answer_question(
                session,
                reader=questions.reader_of(principal),
                question_id=question_id,
                body=body,
                settings=settings,
                now=utcnow(),
            )
        done = "done=answered" + ("&done=masked" if masked else "")
        return redirect(f"/questions/{question_id}?{done}#answer-{row.id}")

    return _attempt(
        work,
        lambda exc: _thread_page(
            request,
            session,
            principal,
            question_id,
            errors={"body": exc.message},
            values={"body": body},
            status_code=exc.status_code,
        ),
    )


def _question_of(session: SessionDep, post_type: str, post_id: int) -> int:
    return questions.question_id_of(session, post_type=post_type, post_id=post_id)


def _thread_error(
    request: Request, session: SessionDep, principal: Principal, question_id: int
) -> Callable[[AppError], Response]:
    return lambda exc: _thread_page(
        request,
        session,
        principal,
        question_id,
        errors={"__all__": exc.message},
        status_code=exc.status_code,
    )


@router.post("/answers/{answer_id}/accept", dependencies=[CsrfProtected])
def accept(
    request: Request,
    answer_id: Id,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    question_id = _question_of(session, "answer", answer_id)

    def work() -> Response:
        with savepoint(session):
            questions.accept_answer(
                session,
                reader=questions.reader_of(principal),
                answer_id=answer_id,
                settings=settings,
                now=utcnow(),
            )
        return redirect(f"/questions/{question_id}?done=accepted#answer-{answer_id}")

    return _attempt(work, _thread_error(request, session, principal, question_id))


@router.post("/reports", dependencies=[CsrfProtected])
def report(
    request: Request,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    post_type: Annotated[PostType, Form()],
    post_id: Annotated[Id, Form()],
    reason: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    question_id = _question_of(session, post_type, post_id)

    def work() -> Response:
        with savepoint(session):
            done = questions.report_post(
                session,
                reader=questions.reader_of(principal),
                post_type=post_type,
                post_id=post_id,
                reason=reason,
                note=note,
                settings=settings,
                now=utcnow(),
            )
        key = "auto_hidden" if done.hidden_now else "reported"
        return redirect(f"/questions/{question_id}?done={key}")

    return _attempt(work, _thread_error(request, session, principal, question_id))


def _moderate(
    request: Request,
    session: SessionDep,
    principal: Principal,
    *,
    post_type: PostType,
    post_id: int,
    hide: bool,
    text: str,
    next_path: str,
) -> Response:
    question_id = _question_of(session, post_type, post_id)
    reader = questions.reader_of(principal)

    def work() -> Response:
        with savepoint(session):
            if hide:
                questions.hide_post(
                    session,
                    reader=reader,
                    post_type=post_type,
                    post_id=post_id,
                    reason=text,
                    now=utcnow(),
                )
            else:
                questions.unhide_post(
                    session,
                    reader=reader,
                    post_type=post_type,
                    post_id=post_id,
                    note=text,
                    now=utcnow(),
                )
        target = safe_next(next_path, f"/questions/{question_id}")
        sep = "&" if "?" in target else "?"
        return redirect(f"{target}{sep}done={'hidden' if hide else 'shown'}")

    if next_path.startswith("/mentor/moderation"):
        return _attempt(
            work,
            lambda exc: _moderation_page(
                request,
                session,
                principal,
                state="open",
                errors={"__all__": exc.message},
                status_code=exc.status_code,
            ),
        )
    return _attempt(work, _thread_error(request, session, principal, question_id))


Reason = Annotated[str, Form(max_length=2000)]
Next = Annotated[str, Form(max_length=300)]


def _moderation_route(post_type: PostType, hide: bool) -> Callable[..., Response]:
    """The page route that hides (with a `reason`) or shows again (with a `note`) a
    question or an answer."""

    def route(
        request: Request,
        post_id: Id,
        principal: Moderator,
        session: SessionDep,
        reason: Reason = "",
        note: Reason = "",
        next: Next = "",
    ) -> Response:
        return _moderate(
            request,
            session,
            principal,
            post_type=post_type,
            post_id=post_id,
            hide=hide,
            text=reason if hide else note,
            next_path=next,
        )

    return route


for _post_type in ("question", "answer"):
    for _hide, _action in ((True, "hide"), (False, "unhide")):
        router.add_api_route(
            f"/{_post_type}s/{{post_id}}/{_action}",
            _moderation_route(_post_type, _hide),
            methods=["POST"],
            dependencies=[CsrfProtected],
        )


def _moderation_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    *,
    state: Literal["open", "hidden"],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    reader = questions.reader_of(principal)
    items = questions.moderation_queue(session, reader=reader, state=state)
    context: dict[str, Any] = {
        "items": items,
        "state": state,
        "errors": errors or {},
        "notices": _notices(request),
        "section": "mentor",
    }
    return render(request, "mentoring/moderation.html", context, status_code)


@router.get("/mentor/moderation", response_class=HTMLResponse)
def moderation(
    request: Request,
    principal: Moderator,
    session: SessionDep,
    state: Annotated[Literal["open", "hidden"], Query()] = "open",
) -> Response:
    return _moderation_page(request, session, principal, state=state)
