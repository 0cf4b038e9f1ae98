"""JSON API for a learner's day: today, progress, quizzes, submissions, heartbeats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, Path, Request, UploadFile, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import LimiterDep, SettingsDep, SignedIn
from app.auth.service import Principal
from app.core.errors import Conflict, Invalid
from app.core.ids import Id
from app.db import SessionDep
from app.gamification.service import BoardsDep
from app.grading.kick import grade_after_commit
from app.learning import activity, final_test, path, quiz, service, submissions
from app.learning.schemas import (
    CheckedQuestionOut,
    FinalTestAnswersIn,
    FinalTestOut,
    FinalTestResultOut,
    HeartbeatIn,
    HeartbeatOut,
    ProgressOut,
    QuizAnswersIn,
    QuizOut,
    QuizQuestionOut,
    QuizResultOut,
    SubmissionOut,
    TodayOut,
    submission_out,
)
from app.models import FinalTestAttempt, LessonVersion, SubmissionKind, utcnow
from app.openapi import errors

router = APIRouter(tags=["learning"])
LessonId = Annotated[str, Path(max_length=80, pattern=r"^[a-z0-9-]+$")]
LevelNumber = Annotated[int, Path(ge=1, le=5)]
DraftAccount = Annotated[
    Id | None,
    Form(
        description="The account the draft was written under (lesson pages send it); "
        "a draft of another account is refused with 409 `other_account`",
    ),
]


def check_draft_account(principal: Principal, account: int | None) -> None:
    """A draft is sent only under the account it was written under. Households share one
    phone: a page the previous person left open (or their draft still in storage) must not
    send their words, phone number included, as the next person's work."""
    if account is not None and account != principal.user.id:
        raise Conflict(
            "Bài làm này được soạn khi một tài khoản khác đang đăng nhập trên máy này nên "
            "không được gửi bằng tài khoản của bạn.",
            code="other_account",
        )


def quiz_result_out(result: quiz.QuizResult) -> QuizResultOut:
    attempt = result.attempt
    return QuizResultOut(
        attempt_id=attempt.id,
        correct=attempt.correct or 0,
        total=len(result.questions),
        percent=attempt.percent or 0,
        passed=bool(attempt.passed),
        pass_mark=result.pass_mark,
        lesson_completed=result.lesson_completed,
        questions=[CheckedQuestionOut(**q.__dict__) for q in result.questions],
    )


@router.get("/me/today", response_model=TodayOut)
def today(
    principal: SignedIn, session: SessionDep, settings: SettingsDep, store: BoardsDep
) -> TodayOut:
    """Today's lesson (the one left half-done, else the next), streak, daily goal, points
    and the learner's place in their unit."""
    return service.today_view(session, store, user=principal.user, settings=settings, now=utcnow())


@router.get("/me/progress", response_model=ProgressOut)
def my_progress(principal: SignedIn, session: SessionDep, settings: SettingsDep) -> ProgressOut:
    return service.progress_view(session, user=principal.user, settings=settings, now=utcnow())


@router.get("/lessons/{lesson_id}/quiz", response_model=QuizOut, responses=errors(429))
def lesson_quiz(
    lesson_id: LessonId, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> QuizOut:
    """The learner's current draw of questions (a new draw after each answered attempt).
    Options are in display order; no answer is included."""
    attempt, version = quiz.open_attempt(
        session, user_id=principal.user.id, lesson_id=lesson_id, settings=settings, now=utcnow()
    )
    return QuizOut(
        attempt_id=attempt.id,
        lesson_id=attempt.lesson_id,
        pass_mark=int(version.content["quiz"]["pass_mark"]),
        questions=[QuizQuestionOut(**q.__dict__) for q in quiz.shown_questions(attempt, version)],
    )


@router.post(
    "/lessons/{lesson_id}/quiz-attempts", response_model=QuizResultOut, responses=errors(409)
)
def answer_quiz(
    lesson_id: LessonId,
    body: QuizAnswersIn,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
) -> QuizResultOut:
    """Answers in (question id → position, positions or true/false); score, the right
    answers and one-line explanations out."""
    result = quiz.answer_attempt(
        session,
        user_id=principal.user.id,
        attempt_id=body.attempt_id,
        answers=body.answers,
        settings=settings,
        now=utcnow(),
        lesson_id=lesson_id,
    )
    return quiz_result_out(result)


def final_test_result_out(
    session: Session, result: final_test.FinalTestResult
) -> FinalTestResultOut:
    from app.certificates.service import live_certificate  # (certificates call into learning)

    a = result.attempt
    held = live_certificate(session, a.user_id, a.level_number)
    return FinalTestResultOut(
        attempt_id=a.id,
        correct=a.correct or 0,
        total=len(a.questions),
        percent=a.percent or 0,
        passed=bool(a.passed),
        pass_mark=result.pass_mark,
        late=result.late,
        certificate=held.serial if held else None,
        questions=[CheckedQuestionOut(**q.__dict__) for q in result.questions],
    )


class FinalTestStateOut(BaseModel):
    """A level's final test before (or during) a sitting: reading it changes nothing."""

    level: int
    questions: int = Field(description="Questions drawn for a sitting")
    pass_mark: int
    minutes: int
    attempts_per_day: int
    attempts_left_today: int
    can_start: bool = Field(description="POST .../final-test/start would start a sitting")
    blocked: str | None = Field(description="Why a sitting cannot start now (Vietnamese)")
    blocked_code: str | None = Field(
        description="lessons_first, already_passed or final_test_limit"
    )
    sitting: FinalTestOut | None = Field(description="The running sitting, when there is one")


def final_test_out(
    session: Session, attempt: FinalTestAttempt, rule: final_test.Rule
) -> FinalTestOut:
    return FinalTestOut(
        attempt_id=attempt.id,
        level=attempt.level_number,
        pass_mark=rule.pass_mark,
        minutes=rule.minutes,
        deadline_at=attempt.deadline_at,
        questions=[
            QuizQuestionOut(**q.__dict__) for q in quiz.shown(final_test.drawn_of(session, attempt))
        ],
    )


@router.get("/levels/{level_number}/final-test", response_model=FinalTestStateOut)
def final_test_state(
    level_number: LevelNumber, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> FinalTestStateOut:
    """The level's final test: its rule, the day's attempts left, the running sitting (its
    questions, in display order, no answers) or why one cannot start. Never starts a
    sitting: that is POST /levels/{n}/final-test/start."""
    state = final_test.standing(
        session,
        user_id=principal.user.id,
        level_number=level_number,
        settings=settings,
        now=utcnow(),
    )
    rule = state.rule
    return FinalTestStateOut(
        level=level_number,
        questions=rule.questions,
        pass_mark=rule.pass_mark,
        minutes=rule.minutes,
        attempts_per_day=state.attempts_per_day,
        attempts_left_today=state.attempts_left,
        can_start=state.blocked is None,
        blocked=state.blocked.message if state.blocked else None,
        blocked_code=state.blocked.code if state.blocked else None,
        sitting=final_test_out(session, state.running, rule) if state.running else None,
    )


@router.post(
    "/levels/{level_number}/final-test/start",
    response_model=FinalTestOut,
    responses=errors(409, 429),
)
def start_final_test(
    level_number: LevelNumber, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> FinalTestOut:
    """Start a timed sitting (once the level's lessons are done; it uses one of the day's
    FINAL_TEST_ATTEMPTS_PER_DAY), or give back the running one. Options are in display
    order; no answer is included."""
    attempt, rule = final_test.start(
        session,
        user_id=principal.user.id,
        level_number=level_number,
        settings=settings,
        now=utcnow(),
    )
    return final_test_out(session, attempt, rule)


@router.post(
    "/levels/{level_number}/final-test", response_model=FinalTestResultOut, responses=errors(409)
)
def answer_final_test(
    level_number: LevelNumber,
    body: FinalTestAnswersIn,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
) -> FinalTestResultOut:
    """Answers in, as for a lesson's quiz (keys are the question ids shown); the score, the
    right answers and, when passed, the level's certificate out."""
    result = final_test.answer(
        session,
        user_id=principal.user.id,
        level_number=level_number,
        attempt_id=body.attempt_id,
        answers=body.answers,
        settings=settings,
        now=utcnow(),
    )
    return final_test_result_out(session, result)


@router.post(
    "/lessons/{lesson_id}/submissions",
    response_model=SubmissionOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(409),
)
async def submit(
    lesson_id: LessonId,
    request: Request,
    background: BackgroundTasks,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    text: Annotated[str, Form(max_length=20_000)],
    client_id: Annotated[str, Form(max_length=64)],
    kind: Annotated[SubmissionKind, Form()] = SubmissionKind.challenge,
    image: Annotated[UploadFile | None, File()] = None,
    share_consent: Annotated[bool, Form()] = False,
    account: DraftAccount = None,
) -> SubmissionOut:
    """Send a challenge (or teach-back) answer: multipart form with `text`, `client_id` (one
    per draft), `kind` and, where the lesson asks for one, `image`; for a teach-back,
    `share_consent=true` agrees that it may be featured under the lesson. It waits as
    `queued` until it is graded; follow it with GET /submissions/{id}. `account`, when
    given, must be the caller's: lesson pages send the account the draft was written
    under, so a draft never goes out under someone else's account on a shared phone."""
    check_draft_account(principal, account)
    data = await image.read(settings.upload_max_bytes + 1) if image and image.filename else None

    def work() -> SubmissionOut:
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
        version = session.get(LessonVersion, submission.lesson_version_id)
        assert version is not None
        grade_after_commit(request, background, submission.id)
        return submission_out(submission, version)

    return await run_in_threadpool(work)


@router.get("/submissions/{submission_id}", response_model=SubmissionOut)
def get_submission(submission_id: Id, principal: SignedIn, session: SessionDep) -> SubmissionOut:
    """Status (`queued`, `grading`, `graded`, `failed`), score, per-criterion bands and
    feedback of one of the learner's submissions."""
    submission = submissions.get_own_submission(
        session, user_id=principal.user.id, submission_id=submission_id
    )
    version = session.get(LessonVersion, submission.lesson_version_id)
    assert version is not None
    return submission_out(submission, version)


@router.post("/me/heartbeat", response_model=HeartbeatOut)
def heartbeat(
    body: HeartbeatIn, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> HeartbeatOut:
    """A lesson page reports that its learner is active (visible tab, recent interaction).
    The server credits the time between beats itself, capped; see docs/learning.md."""
    state = path.learner_path(session, principal.user.id).state_of(body.lesson_id)
    if state is None:
        raise Invalid("Không có bài học này.", code="unknown_lesson")
    day = activity.heartbeat(session, user_id=principal.user.id, settings=settings, now=utcnow())
    return HeartbeatOut(
        active_seconds=day.active_seconds,
        goal_seconds=settings.daily_goal_minutes * 60,
        goal_met=day.goal_met_at is not None,
        next_in_seconds=settings.heartbeat_seconds,
    )
