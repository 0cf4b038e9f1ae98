"""Quizzes: a fresh draw of questions from the lesson's pool for each attempt, options
shuffled, answers checked on the server. A page only ever sees display positions; the
correct ones are sent back after the learner has answered."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.clock import local_day
from app.core.errors import Conflict, Invalid, NotFound, TooManyRequests
from app.learning import path, progress
from app.models import LessonProgress, LessonVersion, QuizAttempt

_rng = random.SystemRandom()

Answer = int | list[int] | bool


@dataclass(frozen=True)
class ShownQuestion:
    id: str
    kind: str
    text: str
    options: list[str]  # in display order; empty for true/false


@dataclass(frozen=True)
class CheckedQuestion:
    id: str
    kind: str
    text: str
    options: list[str]
    given: Answer
    right: Answer  # display positions (or true/false)
    correct: bool
    explanation: str


@dataclass(frozen=True)
class QuizResult:
    attempt: QuizAttempt
    questions: list[CheckedQuestion]
    pass_mark: int
    lesson_completed: bool


@dataclass(frozen=True)
class Drawn:
    """One question of an attempt: its key there, the question, the options' display order
    (None for true/false). The lesson quiz and the level's final test share these."""

    key: str
    question: dict[str, Any]
    order: list[int] | None


def _pool(version: LessonVersion) -> dict[str, dict[str, Any]]:
    return {q["id"]: q for q in version.content["quiz"]["questions"]}


def draw(questions: list[dict[str, Any]], n: int) -> list[tuple[dict[str, Any], list[int] | None]]:
    """n questions at random, each with its options in a random display order."""
    out = []
    for question in _rng.sample(questions, n):
        order = None
        if question["kind"] != "true_false":
            order = list(range(len(question["options"])))
            _rng.shuffle(order)
        out.append((question, order))
    return out


def drawn_of(attempt: QuizAttempt, version: LessonVersion) -> list[Drawn]:
    pool = _pool(version)
    return [Drawn(item["id"], pool[item["id"]], item["order"]) for item in attempt.questions]


def shown(drawn: list[Drawn]) -> list[ShownQuestion]:
    out = []
    for d in drawn:
        options = [d.question["options"][i]["text"] for i in d.order or []]
        out.append(ShownQuestion(d.key, d.question["kind"], d.question["text"], options))
    return out


def shown_questions(attempt: QuizAttempt, version: LessonVersion) -> list[ShownQuestion]:
    return shown(drawn_of(attempt, version))


def open_attempt(
    session: Session, *, user_id: int, lesson_id: str, settings: Settings, now: datetime
) -> tuple[QuizAttempt, LessonVersion]:
    """The learner's unanswered draw for this lesson, or a new one."""
    lesson, version = path.open_lesson(session, user_id, lesson_id)
    attempt = session.scalar(
        select(QuizAttempt)
        .where(
            QuizAttempt.user_id == user_id,
            QuizAttempt.lesson_version_id == version.id,
            QuizAttempt.submitted_at.is_(None),
        )
        .order_by(QuizAttempt.id.desc())
        .limit(1)
    )
    if attempt is not None:
        return attempt, version
    today = local_day(now, settings.tz)
    answered_today = session.scalar(
        select(func.count())
        .select_from(QuizAttempt)
        .where(
            QuizAttempt.user_id == user_id,
            QuizAttempt.lesson_id == lesson.id,
            QuizAttempt.day == today,
            QuizAttempt.submitted_at.is_not(None),
        )
    )
    if (answered_today or 0) >= settings.quiz_attempts_per_lesson_per_day:
        raise TooManyRequests(
            f"Hôm nay bạn đã làm bài trắc nghiệm này {answered_today} lần. "
            "Hãy đọc lại bài và quay lại vào ngày mai.",
            code="quiz_limit",
        )
    quiz = version.content["quiz"]
    questions = [
        {"id": q["id"], "order": order} for q, order in draw(quiz["questions"], quiz["draw"])
    ]
    attempt = QuizAttempt(
        user_id=user_id,
        lesson_id=lesson.id,
        lesson_version_id=version.id,
        day=today,
        questions=questions,
    )
    session.add(attempt)
    progress.touch(session, user_id=user_id, lesson_id=lesson.id, now=now)
    session.flush()
    return attempt, version


def _parse(kind: str, raw: Any, n_options: int) -> Answer:
    """One answer in the shape its question needs, or ValueError (Vietnamese)."""
    if kind == "true_false":
        if isinstance(raw, bool):
            return raw
        raise ValueError("cần trả lời đúng (true) hoặc sai (false)")
    if kind == "single":
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < n_options:
            return raw
        raise ValueError(f"cần chọn một lựa chọn từ 0 đến {n_options - 1}")
    if (
        isinstance(raw, list)
        and raw
        and all(isinstance(x, int) and not isinstance(x, bool) for x in raw)
        and all(0 <= x < n_options for x in raw)
        and len(set(raw)) == len(raw)
    ):
        return sorted(raw)
    raise ValueError(f"cần một danh sách các lựa chọn khác nhau từ 0 đến {n_options - 1}")


def answer_attempt(
    session: Session,
    *,
    user_id: int,
    attempt_id: int,
    answers: dict[str, Any],
    settings: Settings,
    now: datetime,
    lesson_id: str | None = None,
) -> QuizResult:
    attempt = session.get(QuizAttempt, attempt_id)
    if attempt is None or attempt.user_id != user_id:
        raise NotFound("Không tìm thấy lần làm bài này.")
    if lesson_id is not None and attempt.lesson_id != lesson_id:
        raise Invalid("Lần làm bài này thuộc một bài học khác.", code="wrong_lesson")
    path.open_lesson(session, user_id, attempt.lesson_id)  # still open for the learner
    if attempt.submitted_at is not None:
        raise Conflict(
            "Lần làm bài này đã được chấm. Hãy làm một lượt mới.", code="already_answered"
        )
    version = session.get(LessonVersion, attempt.lesson_version_id)
    assert version is not None
    drawn = drawn_of(attempt, version)
    given = parse_answers(drawn, answers)

    checked = check(drawn, given)
    correct = sum(q.correct for q in checked)
    pass_mark = int(version.content["quiz"]["pass_mark"])
    attempt.answers = {k: v for k, v in given.items()}
    attempt.correct = correct
    attempt.percent = round(correct * 100 / len(checked))
    attempt.passed = attempt.percent >= pass_mark
    attempt.submitted_at = now
    session.flush()
    row = progress.record_quiz(session, attempt=attempt, settings=settings, now=now)
    return QuizResult(attempt, checked, pass_mark, row.completed_at is not None)


def parse_answers(drawn: list[Drawn], answers: dict[str, Any]) -> dict[str, Answer]:
    """Every question answered, each in its question's shape; else Invalid (Vietnamese),
    with one problem per question."""
    unknown = sorted(set(answers) - {d.key for d in drawn})
    if unknown:
        raise Invalid(f"Câu hỏi không có trong lần làm bài này: {', '.join(unknown)}.")
    problems: list[dict[str, str]] = []
    given: dict[str, Answer] = {}
    for n, d in enumerate(drawn, 1):
        if d.key not in answers:
            problems.append({"question": d.key, "message": f"Câu {n}: chưa trả lời."})
            continue
        try:
            given[d.key] = _parse(
                d.question["kind"], answers[d.key], len(d.question.get("options") or [])
            )
        except ValueError as exc:
            problems.append({"question": d.key, "message": f"Câu {n}: {exc}."})
    if problems:
        raise Invalid(problems[0]["message"], code="bad_answers", extra={"problems": problems})
    return given


def check(drawn: list[Drawn], given: dict[str, Any]) -> list[CheckedQuestion]:
    checked = []
    for d in drawn:
        question = d.question
        if question["kind"] == "true_false":
            right: Answer = bool(question["answer"])
            options: list[str] = []
        else:
            order = d.order or []
            positions = [p for p, o in enumerate(order) if question["options"][o]["correct"]]
            right = positions[0] if question["kind"] == "single" else positions
            options = [question["options"][i]["text"] for i in order]
        checked.append(
            CheckedQuestion(
                id=d.key,
                kind=question["kind"],
                text=question["text"],
                options=options,
                given=given[d.key],
                right=right,
                correct=given[d.key] == right,
                explanation=question["explanation"],
            )
        )
    return checked


def result_of(session: Session, *, user_id: int, attempt_id: int) -> QuizResult:
    """An answered attempt shown again (the page after a form post)."""
    attempt = session.get(QuizAttempt, attempt_id)
    if attempt is None or attempt.user_id != user_id or attempt.submitted_at is None:
        raise NotFound("Không tìm thấy kết quả bài trắc nghiệm này.")
    version = session.get(LessonVersion, attempt.lesson_version_id)
    assert version is not None and attempt.answers is not None
    row = session.get(LessonProgress, (user_id, attempt.lesson_id))
    return QuizResult(
        attempt,
        check(drawn_of(attempt, version), attempt.answers),
        int(version.content["quiz"]["pass_mark"]),
        row is not None and row.completed_at is not None,
    )
