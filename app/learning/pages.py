"""The learner's pages: Hôm nay, the level map, a lesson (read, quiz, challenge, teach-back),
progress, and the pictures learners sent. Every page works before (and without) JavaScript:
the quiz and the submissions are plain form posts; `static/js/app.js` makes them instant."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import CsrfProtected, LimiterDep, SettingsDep, SignedIn
from app.auth.scope import is_in_scope
from app.core.clock import local_day
from app.core.errors import AppError, NotFound, TooManyRequests
from app.core.ids import Id, parse_id
from app.core.markdown import render_markdown
from app.core.media import media_path
from app.curriculum.schema import BAND_LABELS
from app.db import SessionDep, savepoint
from app.gamification.service import BoardsDep
from app.grading.kick import grade_after_commit
from app.learning import path, quiz, service, submissions
from app.learning.router import DraftAccount, check_draft_account
from app.learning.schemas import rubric_of, submission_out
from app.learning.submissions import MEDIA_FOLDER
from app.mentoring import mentors, questions, review, teach_backs
from app.models import (
    LearnerGroup,
    LessonVersion,
    Role,
    Submission,
    SubmissionKind,
    Unit,
    User,
    utcnow,
)
from app.orgs.service import ancestors
from app.templating import redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    store: BoardsDep,
):
    user = principal.user
    unit = session.get(Unit, user.unit_id)
    group = session.get(LearnerGroup, user.group_id) if user.group_id else None
    return render(
        request,
        "learning/today.html",
        {
            "today": service.today_view(session, store, user=user, settings=settings, now=utcnow()),
            "unit_chain": ancestors(session, unit) if unit else [],
            "group": group,
            "welcome": request.query_params.get("welcome") == "1",
            "password_changed": request.query_params.get("password_changed") == "1",
            "mentor_invitations": mentors.invitations(session, user, settings),
            "review_waiting": (
                review.waiting_count(session, principal, now=utcnow())
                if user.role in (Role.mentor, Role.admin, Role.unit_admin)
                else 0
            ),
            "section": "today",
        },
    )


@router.get("/levels", response_class=HTMLResponse)
def levels(request: Request, principal: SignedIn, session: SessionDep) -> Response:
    learner = path.learner_path(session, principal.user.id)
    current = learner.today()
    return render(
        request,
        "learning/levels.html",
        {
            "levels": learner.levels,
            "current_level": current.lesson.level_number if current else None,
            "section": "levels",
        },
    )


@router.get("/progress", response_class=HTMLResponse)
def progress_page(
    request: Request, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> Response:
    view = service.progress_view(session, user=principal.user, settings=settings, now=utcnow())
    longest = max([d.active_minutes for d in view.days] + [settings.daily_goal_minutes])
    return render(
        request,
        "learning/progress.html",
        {
            "progress": view,
            "goal_minutes": settings.daily_goal_minutes,
            "longest": longest,
            "section": "progress",
        },
    )


def _lesson_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: SignedIn,
    lesson_id: str,
    *,
    quiz_result: quiz.QuizResult | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    user_id = principal.user.id
    learner = path.learner_path(session, user_id)
    state = path.check_open(learner.state_of(lesson_id))
    lesson = state.lesson
    version = path.current_version(session, lesson)
    level = next(lv for lv in learner.levels if lv.level.number == lesson.level_number)
    content = version.content
    open_quiz = None
    errors = dict(errors or {})
    if quiz_result is None:
        try:
            attempt, quiz_version = quiz.open_attempt(
                session, user_id=user_id, lesson_id=lesson.id, settings=settings, now=utcnow()
            )
            open_quiz = {
                "attempt": attempt,
                "questions": quiz.shown_questions(attempt, quiz_version),
            }
        except TooManyRequests as exc:
            errors.setdefault("quiz", exc.message)
    today = local_day(utcnow(), settings.tz)
    tasks = {}
    for kind in (SubmissionKind.challenge, SubmissionKind.teach_back):
        latest = submissions.latest_submissions(
            session, user_id=user_id, lesson_id=lesson.id, kind=kind, limit=3
        )
        outs = []
        for item in latest:
            item_version = session.get(LessonVersion, item.lesson_version_id)
            assert item_version is not None
            outs.append(submission_out(item, item_version))
        criteria, pass_mark = rubric_of(version, kind)
        low, high = submissions.text_bounds(version, kind)
        sent = submissions.count_sent(
            session, user_id=user_id, lesson_id=lesson.id, kind=kind, day=today
        )
        tasks[kind.value] = {
            "latest": outs,
            "criteria": criteria,
            "pass_mark": pass_mark,
            "min_chars": low,
            "max_chars": high,
            "wants_image": submissions.wants_image(version, kind),
            "left_today": max(0, settings.submissions_per_lesson_per_day - sent),
            "client_id": uuid.uuid4().hex,
        }
    following = learner.next_after(lesson.id)
    return render(
        request,
        "learning/lesson.html",
        {
            "lesson": lesson,
            "state": state,
            "level": level,
            "c": content,
            "body_html": render_markdown(content["body"]),
            "answer_html": render_markdown(content["example"]["answer"]),
            "task_html": render_markdown(content["challenge"]["task"]),
            "open_quiz": open_quiz,
            "quiz_result": quiz_result,
            "tasks": tasks,
            "bands": BAND_LABELS,
            "next_state": following,
            "errors": errors,
            "values": values or {},
            "heartbeat_seconds": settings.heartbeat_seconds,
            "upload_max_mb": settings.upload_max_bytes // (1024 * 1024),
            "appeals": review.appeal_states(
                session,
                [s.id for t in tasks.values() for s in t["latest"]],
                settings=settings,
                now=utcnow(),
            ),
            "appeal_error": request.query_params.get("appeal_error", "")[:300],
            "appeal_for": request.query_params.get("appeal_for", ""),
            "questions": questions.lesson_summary(
                session, lesson_id=lesson.id, viewer_id=principal.user.id
            ),
            "featured": teach_backs.featured_for_lesson(
                session, lesson_id=lesson.id, settings=settings
            ),
            "section": "levels",
        },
        status_code,
    )


@router.get("/lessons/{lesson_id}", response_class=HTMLResponse)
def lesson_page(
    request: Request,
    lesson_id: str,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    quiz_attempt: Annotated[Id | None, Query(alias="quiz")] = None,
) -> Response:
    result = None
    if quiz_attempt is not None:
        result = quiz.result_of(session, user_id=principal.user.id, attempt_id=quiz_attempt)
        if result.attempt.lesson_id != lesson_id:
            raise NotFound("Không tìm thấy kết quả bài trắc nghiệm này.")
    return _lesson_page(request, session, settings, principal, lesson_id, quiz_result=result)


def form_answers(form: Any) -> dict[str, object]:
    """Quiz answers from a plain form: a_<question id> fields hold the chosen positions
    (several for a multiple-answer question, marked by m_<question id>), or true/false."""
    answers: dict[str, object] = {}
    for key in form:
        if not key.startswith("a_"):
            continue
        parsed: list[object] = []
        for value in (str(v) for v in form.getlist(key)):
            if value in ("true", "false"):
                parsed.append(value == "true")
            elif value.isdigit():
                parsed.append(int(value))
            else:
                parsed.append(value)
        answers[key[2:]] = parsed if form.get(f"m_{key[2:]}") else parsed[0]
    for key in form:
        if key.startswith("m_") and key[2:] not in answers:
            answers[key[2:]] = []
    return answers


@router.post("/lessons/{lesson_id}/quiz", dependencies=[CsrfProtected])
async def quiz_submit(
    request: Request,
    lesson_id: str,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The quiz form without JavaScript (see form_answers)."""
    form = await request.form()
    raw_attempt = str(form.get("attempt_id", ""))

    def work() -> Response:
        answers = form_answers(form)
        try:
            with savepoint(session):
                result = quiz.answer_attempt(
                    session,
                    user_id=principal.user.id,
                    attempt_id=parse_id(raw_attempt) or 0,
                    answers=answers,
                    settings=settings,
                    now=utcnow(),
                    lesson_id=lesson_id,
                )
        except AppError as exc:
            if exc.status_code in (403, 404):
                raise
            return _lesson_page(
                request,
                session,
                settings,
                principal,
                lesson_id,
                errors={"quiz": exc.message},
                status_code=exc.status_code,
            )
        return redirect(f"/lessons/{lesson_id}?quiz={result.attempt.id}#quiz")

    return await run_in_threadpool(work)


@router.post("/lessons/{lesson_id}/submit", dependencies=[CsrfProtected])
async def submission_submit(
    request: Request,
    background: BackgroundTasks,
    lesson_id: str,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    text: Annotated[str, Form(max_length=20_000)] = "",
    client_id: Annotated[str, Form(max_length=64)] = "",
    kind: Annotated[SubmissionKind, Form()] = SubmissionKind.challenge,
    image: Annotated[UploadFile | None, File()] = None,
    share_consent: Annotated[bool, Form()] = False,
    account: DraftAccount = None,
) -> Response:
    check_draft_account(principal, account)  # an error page: the text is not shown back
    data = await image.read(settings.upload_max_bytes + 1) if image and image.filename else None

    def work() -> Response:
        try:
            with savepoint(session):
                submission = submissions.create_submission(
                    session,
                    user_id=principal.user.id,
                    lesson_id=lesson_id,
                    kind=kind,
                    text=text,
                    client_id=client_id,
                    image=data,
                    settings=settings,
                    limiter=limiter,
                    now=utcnow(),
                    share_consent=share_consent,
                )
        except AppError as exc:
            if exc.status_code in (403, 404):
                raise
            if exc.code == "duplicate_submission":
                return redirect(f"/lessons/{lesson_id}#{kind.value}")
            return _lesson_page(
                request,
                session,
                settings,
                principal,
                lesson_id,
                errors={kind.value: exc.message},
                values={kind.value: text},
                status_code=exc.status_code,
            )
        grade_after_commit(request, background, submission.id)
        return redirect(f"/lessons/{lesson_id}?sent={submission.id}#{kind.value}")

    return await run_in_threadpool(work)


@router.get("/media/submissions/{name}")
def submission_image(name: str, principal: SignedIn, session: SessionDep, settings: SettingsDep):
    """A picture a learner sent: its author, and administrators over the author's unit."""
    submission = session.scalar(select(Submission).where(Submission.image_name == name))
    file = media_path(settings.media_dir, MEDIA_FOLDER, name)
    if submission is None or file is None:
        raise NotFound("Không tìm thấy ảnh.")
    if submission.user_id != principal.user.id:
        author = session.get(User, submission.user_id)
        unit = session.get(Unit, author.unit_id) if author else None
        admin = principal.user.role in (Role.admin, Role.unit_admin)
        if not (admin and unit is not None and is_in_scope(principal, unit.path)) and not (
            review.may_see_submission(session, principal, submission.id)
        ):
            raise NotFound("Không tìm thấy ảnh.")
    return FileResponse(
        file, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )
