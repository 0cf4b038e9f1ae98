"""JSON API for the curriculum: open learning material, answers withheld."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from app.auth.dependencies import Public
from app.curriculum import service
from app.curriculum.schemas import (
    LessonOut,
    LessonSummary,
    LevelOut,
    lesson_out,
    lesson_summary,
    level_out,
)
from app.db import SessionDep

router = APIRouter(tags=["curriculum"], dependencies=[Depends(Public())])
LessonId = Annotated[str, Path(max_length=80, pattern=r"^[a-z0-9-]+$")]


@router.get("/levels", response_model=list[LevelOut])
def levels(session: SessionDep) -> list[LevelOut]:
    """The five levels with their outcomes, certificate rule and number of lessons."""
    return [level_out(level, count) for level, count in service.list_levels(session)]


@router.get("/levels/{number}/lessons", response_model=list[LessonSummary])
def level_lessons(
    number: Annotated[int, Path(ge=1, le=20)], session: SessionDep
) -> list[LessonSummary]:
    service.get_level(session, number)
    return [lesson_summary(lesson) for lesson in service.list_lessons(session, number)]


@router.get("/lessons/{lesson_id}", response_model=LessonOut)
def lesson(lesson_id: LessonId, session: SessionDep) -> LessonOut:
    """A lesson's current version: body, worked example, the quiz's size, the challenge with
    its rubric, the teach-back. Quiz answers and graded exemplars are never included."""
    return lesson_out(*service.get_lesson(session, lesson_id))
