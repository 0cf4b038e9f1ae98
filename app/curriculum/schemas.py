"""What learners (and anyone) receive of the curriculum: never quiz answers, explanations,
rubric exemplars or the offline grader's key terms."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from app.models import Lesson, LessonVersion, Level


class FinalTestOut(BaseModel):
    questions: int
    pass_mark: int
    minutes: int


class CertificateRuleOut(BaseModel):
    lessons_passed: int
    min_average: int
    final_test: FinalTestOut | None = None


class LevelOut(BaseModel):
    number: int
    title: str
    description: str
    outcomes: list[str]
    lesson_count: int
    certificate: CertificateRuleOut


class LessonSummary(BaseModel):
    id: str
    level: int
    position: int
    version: int
    title: str
    minutes: int
    groups: list[str]


class ExampleOut(BaseModel):
    situation: str
    prompt: str
    answer: str
    why: str


class QuizInfo(BaseModel):
    draw: int
    pass_mark: int
    pool_size: int


class CriterionOut(BaseModel):
    id: str
    name: str
    weight: int
    bands: dict[int, str]


class SubmitOut(BaseModel):
    kind: Literal["text", "image"]
    instructions: str
    min_chars: int
    max_chars: int


class ChallengeOut(BaseModel):
    task: str
    minutes: int
    submit: SubmitOut
    pass_mark: int
    rubric: list[CriterionOut]


class TeachBackOut(BaseModel):
    prompt: str
    minutes: int
    pass_mark: int
    rubric: list[CriterionOut]


class LessonOut(LessonSummary):
    objectives: list[str]
    tools: list[str]
    body: str
    example: ExampleOut
    quiz: QuizInfo
    challenge: ChallengeOut
    teach_back: TeachBackOut


def level_out(level: Level, lesson_count: int) -> LevelOut:
    return LevelOut(
        number=level.number,
        title=level.title,
        description=level.description,
        outcomes=level.outcomes,
        lesson_count=lesson_count,
        certificate=CertificateRuleOut.model_validate(level.certificate),
    )


def lesson_summary(lesson: Lesson) -> LessonSummary:
    return LessonSummary(
        id=lesson.id,
        level=lesson.level_number,
        position=lesson.position,
        version=lesson.current_version,
        title=lesson.title,
        minutes=lesson.minutes,
        groups=lesson.groups,
    )


def _criteria(rubric: list[dict[str, Any]]) -> list[CriterionOut]:
    return [
        CriterionOut(id=c["id"], name=c["name"], weight=c["weight"], bands=c["bands"])
        for c in rubric
    ]


def lesson_out(lesson: Lesson, version: LessonVersion) -> LessonOut:
    c = version.content
    challenge = c["challenge"]
    teach_back = c["teach_back"]
    return LessonOut(
        **lesson_summary(lesson).model_dump(),
        objectives=c["objectives"],
        tools=c["tools"],
        body=c["body"],
        example=ExampleOut.model_validate(c["example"]),
        quiz=QuizInfo(
            draw=c["quiz"]["draw"],
            pass_mark=c["quiz"]["pass_mark"],
            pool_size=len(c["quiz"]["questions"]),
        ),
        challenge=ChallengeOut(
            task=challenge["task"],
            minutes=challenge["minutes"],
            submit=SubmitOut.model_validate(challenge["submit"]),
            pass_mark=challenge["pass_mark"],
            rubric=_criteria(challenge["rubric"]),
        ),
        teach_back=TeachBackOut(
            prompt=teach_back["prompt"],
            minutes=teach_back["minutes"],
            pass_mark=teach_back["rubric"]["pass_mark"],
            rubric=_criteria(teach_back["rubric"]["rubric"]),
        ),
    )
