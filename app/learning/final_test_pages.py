"""The level's final test as plain pages: the rules with a "Bắt đầu" form (a POST starts
the timed sitting: opening the page never does), the sitting (a form with a time limit),
its result, and what stands in the way when it cannot open yet."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import CsrfProtected, SettingsDep, SignedIn
from app.certificates.service import live_certificate
from app.core.errors import AppError, NotFound
from app.core.ids import Id, parse_id
from app.db import SessionDep, savepoint
from app.learning import final_test, quiz
from app.learning.pages import form_answers
from app.models import FinalTestAttempt, Level, utcnow
from app.templating import redirect, render

router = APIRouter(include_in_schema=False)
LevelNumber = Annotated[int, Path(ge=1, le=5)]


def _page(
    request: Request,
    session: SessionDep,
    level_number: int,
    *,
    user_id: int,
    settings: SettingsDep,
    error: str = "",
    status_code: int = 200,
    result: final_test.FinalTestResult | None = None,
) -> Response:
    """The rules and a "Bắt đầu" button, the running sitting's form, a result, or what
    stands in the way. Rendering it never starts a sitting (that is the start form's POST)."""
    level = session.get(Level, level_number)
    if level is None or final_test.rule_of(level) is None:
        raise NotFound("Bậc này không có bài kiểm tra cuối bậc.")
    state = final_test.standing(
        session, user_id=user_id, level_number=level_number, settings=settings, now=utcnow()
    )
    running = state.running
    if running is None and error:  # the form again, with the error above it
        running = final_test.running_attempt(
            session, user_id=user_id, level_number=level_number, now=None
        )
    sitting = None
    if result is None and running is not None:
        sitting = (running, quiz.shown(final_test.drawn_of(session, running)))
    held = live_certificate(session, user_id, level_number)
    return render(
        request,
        "learning/final_test.html",
        {
            "section": "levels",
            "level": level,
            "rule": state.rule,
            "sitting": sitting,
            "blocked": state.blocked.message if state.blocked and not sitting else "",
            "attempts_left": state.attempts_left,
            "attempts_per_day": state.attempts_per_day,
            "error": error,
            "result": result,
            "certificate": held,
        },
        status_code=status_code,
    )


@router.get("/levels/{level_number}/final-test", response_class=HTMLResponse)
def final_test_page(
    request: Request,
    level_number: LevelNumber,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    result: Id | None = None,
) -> Response:
    shown = None
    if result is not None:
        attempt = session.get(FinalTestAttempt, result)
        if attempt is None or attempt.user_id != principal.user.id or attempt.submitted_at is None:
            raise NotFound("Không tìm thấy kết quả bài kiểm tra này.")
        drawn = final_test.drawn_of(session, attempt)
        level = session.get(Level, level_number)
        rule = final_test.rule_of(level) if level else None
        shown = final_test.FinalTestResult(
            attempt,
            quiz.check(drawn, attempt.answers) if attempt.answers else [],
            rule.pass_mark if rule else 0,
            not attempt.answers and not attempt.passed,
        )
    return _page(
        request, session, level_number, user_id=principal.user.id, settings=settings, result=shown
    )


def _refused(
    request: Request,
    session: SessionDep,
    level_number: int,
    principal: SignedIn,
    settings: SettingsDep,
    exc: AppError,
) -> Response:
    """What stands in the way of starting or answering, shown on the test page; a missing
    level or a refused role stays an error page."""
    if exc.status_code in (403, 404):
        raise exc
    return _page(
        request,
        session,
        level_number,
        user_id=principal.user.id,
        settings=settings,
        error=exc.message,
        status_code=exc.status_code,
    )


@router.post("/levels/{level_number}/final-test/start", dependencies=[CsrfProtected])
def final_test_start(
    request: Request,
    level_number: LevelNumber,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The "Bắt đầu" button: starts a timed sitting (or finds the running one), then shows
    it; what stands in the way is shown on the page instead."""
    try:
        with savepoint(session):
            final_test.start(
                session,
                user_id=principal.user.id,
                level_number=level_number,
                settings=settings,
                now=utcnow(),
            )
    except AppError as exc:
        return _refused(request, session, level_number, principal, settings, exc)
    return redirect(f"/levels/{level_number}/final-test")


@router.post("/levels/{level_number}/final-test", dependencies=[CsrfProtected])
async def final_test_submit(
    request: Request,
    level_number: LevelNumber,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    form = await request.form()
    raw_attempt = str(form.get("attempt_id", ""))

    def work() -> Response:
        try:
            with savepoint(session):
                done = final_test.answer(
                    session,
                    user_id=principal.user.id,
                    level_number=level_number,
                    attempt_id=parse_id(raw_attempt) or 0,
                    answers=form_answers(form),
                    settings=settings,
                    now=utcnow(),
                )
        except AppError as exc:
            return _refused(request, session, level_number, principal, settings, exc)
        return redirect(f"/levels/{level_number}/final-test?result={done.attempt.id}")

    return await run_in_threadpool(work)
