"""A learner's day in and out of the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.ids import Id
from app.core.schemas import JsonIn
from app.gamification.schemas import StreakOut
from app.learning.path import LessonState, Status
from app.models import LessonVersion, Submission, SubmissionKind, SubmissionStatus


class LessonCard(BaseModel):
    id: str
    title: str
    level: int
    level_title: str
    position: int
    level_lessons: int
    minutes: int
    status: Status


class GoalOut(BaseModel):
    active_minutes: int
    goal_minutes: int
    percent: int
    met: bool


class RankOut(BaseModel):
    rank: int | None = Field(description="All-time rank in the unit; null before any points")
    of: int
    unit: str


class TodayOut(BaseModel):
    date: date
    lesson: LessonCard | None = Field(description="Today's lesson; null when every lesson is done")
    streak: int
    streak_detail: StreakOut
    goal: GoalOut
    points: int
    rank: RankOut


class LessonProgressOut(BaseModel):
    id: str
    title: str
    position: int
    status: Status
    quiz_attempts: int
    quiz_best: int | None
    submissions: int
    challenge_best: float | None
    last_activity_at: datetime | None
    completed_at: datetime | None


class LevelProgressOut(BaseModel):
    number: int
    title: str
    unlocked: bool
    completed: bool
    done: int
    total: int
    lessons: list[LessonProgressOut]


class DayOut(BaseModel):
    day: date
    active_minutes: int
    lessons_completed: int
    counted: bool
    frozen: bool = False  # missed, kept by a streak freeze


class ProgressOut(BaseModel):
    streak: int
    points: int
    levels: list[LevelProgressOut]
    days: list[DayOut]


class QuizQuestionOut(BaseModel):
    id: str
    kind: Literal["single", "multiple", "true_false"]
    text: str
    options: list[str] = Field(description="In display order; answer with their positions")


class QuizOut(BaseModel):
    attempt_id: int
    lesson_id: str
    pass_mark: int
    questions: list[QuizQuestionOut]


class QuizAnswersIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    attempt_id: Id
    answers: dict[str, Any] = Field(
        max_length=20,
        description="Question id → an option position (single), a list of positions "
        "(multiple) or true/false",
    )


class FinalTestOut(BaseModel):
    attempt_id: int
    level: int
    pass_mark: int
    minutes: int
    deadline_at: datetime
    questions: list[QuizQuestionOut]


class FinalTestAnswersIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    attempt_id: Id
    answers: dict[str, Any] = Field(max_length=40, description="As for a lesson's quiz")


class CheckedQuestionOut(BaseModel):
    id: str
    kind: str
    text: str
    options: list[str]
    given: int | list[int] | bool
    right: int | list[int] | bool
    correct: bool
    explanation: str


class QuizResultOut(BaseModel):
    attempt_id: int
    correct: int
    total: int
    percent: int
    passed: bool
    pass_mark: int
    lesson_completed: bool
    questions: list[CheckedQuestionOut]


class CriterionResultOut(BaseModel):
    id: str
    name: str
    weight: int
    score: int | None = Field(description="The band 0-3, once graded")
    comment: str | None = None


class SubmissionOut(BaseModel):
    id: int
    lesson_id: str
    kind: SubmissionKind
    status: SubmissionStatus
    created_at: datetime
    text: str
    image_url: str | None
    pass_mark: int
    score: float | None
    passed: bool | None
    criteria: list[CriterionResultOut]
    feedback: str | None
    grader: str | None
    graded_at: datetime | None
    provisional: bool = Field(
        description="Graded offline while the LLM grader was unavailable; it will be re-graded"
    )
    share_consent: bool = Field(
        default=False,
        description="A teach-back its author agreed may be featured under the lesson",
    )


class HeartbeatIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    lesson_id: str = Field(max_length=80, pattern=r"^[a-z0-9-]+$")


class HeartbeatOut(BaseModel):
    active_seconds: int
    goal_seconds: int
    goal_met: bool
    next_in_seconds: int


def lesson_card(state: LessonState, level_title: str, level_lessons: int) -> LessonCard:
    return LessonCard(
        id=state.lesson.id,
        title=state.lesson.title,
        level=state.lesson.level_number,
        level_title=level_title,
        position=state.lesson.position,
        level_lessons=level_lessons,
        minutes=state.lesson.minutes,
        status=state.status,
    )


def rubric_of(version: LessonVersion, kind: SubmissionKind) -> tuple[list[dict[str, Any]], int]:
    """The criteria and pass mark a submission of `kind` is graded with."""
    if kind == SubmissionKind.teach_back:
        rubric = version.content["teach_back"]["rubric"]
        return rubric["rubric"], int(rubric["pass_mark"])
    challenge = version.content["challenge"]
    return challenge["rubric"], int(challenge["pass_mark"])


def submission_out(submission: Submission, version: LessonVersion) -> SubmissionOut:
    criteria, pass_mark = rubric_of(version, submission.kind)
    graded = submission.result or {}
    by_id = {c.get("id"): c for c in graded.get("criteria", [])}
    return SubmissionOut(
        id=submission.id,
        lesson_id=submission.lesson_id,
        kind=submission.kind,
        status=submission.status,
        created_at=submission.created_at,
        text=submission.text,
        image_url=f"/media/submissions/{submission.image_name}" if submission.image_name else None,
        pass_mark=pass_mark,
        score=submission.score,
        passed=submission.passed,
        criteria=[
            CriterionResultOut(
                id=c["id"],
                name=c["name"],
                weight=c["weight"],
                score=by_id.get(c["id"], {}).get("score"),
                comment=by_id.get(c["id"], {}).get("comment"),
            )
            for c in criteria
        ],
        feedback=graded.get("feedback"),
        grader=submission.grader,
        graded_at=submission.graded_at,
        provisional=submission.provisional,
        share_consent=submission.share_consent,
    )


class FinalTestResultOut(BaseModel):
    attempt_id: int
    correct: int
    total: int
    percent: int
    passed: bool
    pass_mark: int
    late: bool = Field(description="Sent after the time limit: not counted")
    certificate: str | None = Field(description="The level's certificate serial, when held")
    questions: list[CheckedQuestionOut]
