"""JSON API for questions and answers under lessons, reports and moderation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status

from app.auth.dependencies import RequireRole, SettingsDep, SignedIn
from app.auth.service import Principal
from app.core.ids import Id
from app.db import SessionDep
from app.mentoring import questions
from app.mentoring.questions import PostType
from app.mentoring.schemas_questions import (
    AnswerIn,
    HideIn,
    PostedOut,
    PostOut,
    QuestionIn,
    QuestionListOut,
    QueueItemOut,
    ReportedOut,
    ReportIn,
    ThreadOut,
    UnhideIn,
    post_out,
    posted_out,
    queue_item_out,
    thread_out,
)
from app.models import utcnow
from app.openapi import errors

router = APIRouter(tags=["mentoring"])
Moderator = Annotated[Principal, Depends(RequireRole(*questions.MODERATOR_ROLES))]
LessonId = Annotated[str, Path(max_length=80, pattern=r"^[a-z0-9-]+$")]


@router.get("/lessons/{lesson_id}/questions", response_model=QuestionListOut)
def lesson_questions(
    lesson_id: LessonId,
    principal: SignedIn,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> QuestionListOut:
    """A lesson's questions, newest first, 20 a page: the visible ones and the caller's own;
    moderators also get the hidden ones in their scope (`hidden`)."""
    found = questions.list_questions(
        session, reader=questions.reader_of(principal), lesson_id=lesson_id, page=page
    )
    return QuestionListOut(
        lesson_id=found.lesson.id,
        lesson_title=found.lesson.title,
        items=[post_out(v) for v in found.items],
        total=found.total,
        page=found.page,
        pages=found.pages,
    )


@router.post(
    "/lessons/{lesson_id}/questions",
    response_model=PostedOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(429),
)
def ask(
    lesson_id: LessonId,
    body: QuestionIn,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
) -> PostedOut:
    """Ask under a lesson the caller can open (10–1000 characters, `questions_per_day`).
    Phone and identity numbers and e-mail addresses are masked before storing (`masked`)."""
    reader = questions.reader_of(principal)
    question, masked = questions.ask(
        session,
        reader=reader,
        lesson_id=lesson_id,
        body=body.body,
        settings=settings,
        now=utcnow(),
    )
    return posted_out(questions.post_view(session, reader=reader, post=question), masked)


@router.get("/questions/{question_id}", response_model=ThreadOut)
def get_question(question_id: Id, principal: SignedIn, session: SessionDep) -> ThreadOut:
    """A question with its answers (the accepted one first)."""
    return thread_out(
        questions.get_thread(
            session, reader=questions.reader_of(principal), question_id=question_id
        )
    )


@router.post(
    "/questions/{question_id}/answers",
    response_model=PostedOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(409, 429),
)
def answer(
    question_id: Id,
    body: AnswerIn,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
) -> PostedOut:
    """Answer a question (5–2000 characters, `answers_per_day`); the asker is notified."""
    reader = questions.reader_of(principal)
    row, masked = questions.answer_question(
        session,
        reader=reader,
        question_id=question_id,
        body=body.body,
        settings=settings,
        now=utcnow(),
    )
    return posted_out(questions.post_view(session, reader=reader, post=row), masked)


@router.post("/answers/{answer_id}/accept", response_model=PostOut, responses=errors(409))
def accept(
    answer_id: Id, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> PostOut:
    """The asker accepts one answer, once and for good (409 after that); its author earns
    `points_answer_accepted` (not for answering one's own question)."""
    reader = questions.reader_of(principal)
    row = questions.accept_answer(
        session, reader=reader, answer_id=answer_id, settings=settings, now=utcnow()
    )
    return post_out(questions.post_view(session, reader=reader, post=row))


@router.post(
    "/reports",
    response_model=ReportedOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(404, 409),
)
def report(
    body: ReportIn, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> ReportedOut:
    """Report a post once, with a reason (`spam`, `misinformation`, `personal_data`, `abuse`,
    `other`) and an optional note; `reports_to_hide` open reports hide it."""
    done = questions.report_post(
        session,
        reader=questions.reader_of(principal),
        post_type=body.post_type,
        post_id=body.post_id,
        reason=body.reason,
        note=body.note,
        settings=settings,
        now=utcnow(),
    )
    return ReportedOut(
        id=done.report.id,
        post_type=body.post_type,
        post_id=body.post_id,
        hidden_now=done.hidden_now,
    )


def _hide(
    principal: Principal, session: SessionDep, post_type: PostType, post_id: int, reason: str
) -> PostOut:
    reader = questions.reader_of(principal)
    post = questions.hide_post(
        session, reader=reader, post_type=post_type, post_id=post_id, reason=reason, now=utcnow()
    )
    return post_out(questions.post_view(session, reader=reader, post=post))


def _unhide(
    principal: Principal, session: SessionDep, post_type: PostType, post_id: int, note: str
) -> PostOut:
    reader = questions.reader_of(principal)
    post = questions.unhide_post(
        session, reader=reader, post_type=post_type, post_id=post_id, note=note, now=utcnow()
    )
    return post_out(questions.post_view(session, reader=reader, post=post))


@router.post("/questions/{question_id}/hide", response_model=PostOut, responses=errors(409))
def hide_question(
    question_id: Id, body: HideIn, principal: Moderator, session: SessionDep
) -> PostOut:
    """Moderators hide a question in their scope with a reason; open reports are resolved."""
    return _hide(principal, session, "question", question_id, body.reason)


@router.post("/questions/{question_id}/unhide", response_model=PostOut, responses=errors(409))
def unhide_question(
    question_id: Id, principal: Moderator, session: SessionDep, body: UnhideIn | None = None
) -> PostOut:
    """Moderators show a hidden question again, or keep a reported one visible; either way
    its open reports are dismissed (409 for a visible question nobody reported)."""
    return _unhide(principal, session, "question", question_id, body.note if body else "")


@router.post("/answers/{answer_id}/hide", response_model=PostOut, responses=errors(409))
def hide_answer(answer_id: Id, body: HideIn, principal: Moderator, session: SessionDep) -> PostOut:
    """Moderators hide an answer (scope: its question's) with a reason."""
    return _hide(principal, session, "answer", answer_id, body.reason)


@router.post("/answers/{answer_id}/unhide", response_model=PostOut, responses=errors(409))
def unhide_answer(
    answer_id: Id, principal: Moderator, session: SessionDep, body: UnhideIn | None = None
) -> PostOut:
    """Moderators show a hidden answer again, or keep a reported one (as for questions)."""
    return _unhide(principal, session, "answer", answer_id, body.note if body else "")


@router.get("/moderation", response_model=list[QueueItemOut])
def moderation(
    principal: Moderator,
    session: SessionDep,
    state: Annotated[Literal["open", "hidden"], Query()] = "open",
) -> list[QueueItemOut]:
    """The moderation queue in the caller's scope: `open` (reported, or hidden by reports;
    those first) or `hidden` (to show a post again)."""
    items = questions.moderation_queue(session, reader=questions.reader_of(principal), state=state)
    return [queue_item_out(i) for i in items]
