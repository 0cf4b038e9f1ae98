"""A level's final test (the optional part of its certificate rule): questions drawn from
the quizzes of the level's lessons, a time limit, checked on the server. It opens once
the level's lessons are done; passing it lets the level's certificate be issued. Looking at
it (`standing`) changes nothing; a sitting starts, and uses one of the day's attempts, only
through `start` (a POST), so no link or cross-site navigation can start one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.clock import local_day
from app.core.errors import AppError, Conflict, NotFound, TooManyRequests
from app.learning import quiz
from app.learning.progress import level_standing
from app.models import FinalTestAttempt, Lesson, LessonVersion, Level

GRACE = timedelta(seconds=60)  # a slow connection's last answers still count


@dataclass(frozen=True)
class Rule:
    questions: int
    pass_mark: int
    minutes: int


@dataclass(frozen=True)
class FinalTestResult:
    attempt: FinalTestAttempt
    questions: list[quiz.CheckedQuestion]
    pass_mark: int
    late: bool


def rule_of(level: Level) -> Rule | None:
    test = level.certificate.get("final_test")
    if not test:
        return None
    return Rule(int(test["questions"]), int(test["pass_mark"]), int(test.get("minutes", 15)))


def passed(session: Session, user_id: int, level_number: int) -> bool:
    return bool(
        session.scalar(
            select(func.count()).where(
                FinalTestAttempt.user_id == user_id,
                FinalTestAttempt.level_number == level_number,
                FinalTestAttempt.passed.is_(True),
            )
        )
    )


def _level(session: Session, level_number: int) -> tuple[Level, Rule]:
    level = session.get(Level, level_number)
    if level is None or not level.is_active:
        raise NotFound("Không tìm thấy bậc học này.")
    rule = rule_of(level)
    if rule is None:
        raise NotFound(f"Bậc {level_number} không có bài kiểm tra cuối bậc.", code="no_final_test")
    return level, rule


def drawn_of(session: Session, attempt: FinalTestAttempt) -> list[quiz.Drawn]:
    versions = {
        v.id: v
        for v in session.scalars(
            select(LessonVersion).where(
                LessonVersion.id.in_({q["version_id"] for q in attempt.questions})
            )
        )
    }
    out = []
    for item in attempt.questions:
        pool = {q["id"]: q for q in versions[item["version_id"]].content["quiz"]["questions"]}
        out.append(quiz.Drawn(item["key"], pool[item["id"]], item["order"]))
    return out


def running_attempt(
    session: Session, *, user_id: int, level_number: int, now: datetime | None
) -> FinalTestAttempt | None:
    """The learner's unanswered sitting: one still within its time (`now`), or the latest
    whatever its deadline (`now=None`: to show its form again with an error)."""
    query = select(FinalTestAttempt).where(
        FinalTestAttempt.user_id == user_id,
        FinalTestAttempt.level_number == level_number,
        FinalTestAttempt.submitted_at.is_(None),
    )
    if now is not None:
        query = query.where(FinalTestAttempt.deadline_at > now)
    return session.scalar(query.order_by(FinalTestAttempt.id.desc()).limit(1))


def sat_today(
    session: Session, *, user_id: int, level_number: int, settings: Settings, now: datetime
) -> int:
    """Sittings started today (each uses one of FINAL_TEST_ATTEMPTS_PER_DAY)."""
    today = local_day(now, settings.tz)
    return (
        session.scalar(
            select(func.count()).where(
                FinalTestAttempt.user_id == user_id,
                FinalTestAttempt.level_number == level_number,
                FinalTestAttempt.day == today,
            )
        )
        or 0
    )


def _check_may_sit(session: Session, level: Level, *, user_id: int) -> None:
    """The level's lessons are done and the test is not passed yet."""
    done, _average = level_standing(session, user_id, level.number)
    needed = int(level.certificate.get("lessons_passed", 1))
    if done < needed:
        raise Conflict(
            f"Hãy hoàn thành đủ {needed} bài học của Bậc {level.number} (bạn đã xong {done}) "
            "trước khi làm bài kiểm tra cuối bậc.",
            code="lessons_first",
        )
    if passed(session, user_id, level.number):
        raise Conflict(
            f"Bạn đã vượt qua bài kiểm tra cuối Bậc {level.number}.", code="already_passed"
        )


def _check_attempts_left(sat: int, settings: Settings) -> None:
    if sat >= settings.final_test_attempts_per_day:
        raise TooManyRequests(
            f"Hôm nay bạn đã làm bài kiểm tra cuối bậc {sat} lần. "
            "Hãy ôn lại các bài học và quay lại vào ngày mai.",
            code="final_test_limit",
        )


@dataclass(frozen=True)
class Standing:
    """What the learner sees before starting: the rule, a running sitting, or why a sitting
    cannot start now (None: it can). Reading it changes nothing."""

    rule: Rule
    running: FinalTestAttempt | None
    blocked: AppError | None
    sat_today: int
    attempts_per_day: int

    @property
    def attempts_left(self) -> int:
        return max(0, self.attempts_per_day - self.sat_today)


def standing(
    session: Session, *, user_id: int, level_number: int, settings: Settings, now: datetime
) -> Standing:
    """The rules, the running sitting and what stands in the way, for GET: never starts a
    sitting nor uses an attempt (starting is `start`, behind a POST)."""
    level, rule = _level(session, level_number)
    sat = sat_today(session, user_id=user_id, level_number=level_number, settings=settings, now=now)
    running, blocked = None, None
    try:
        _check_may_sit(session, level, user_id=user_id)
        running = running_attempt(session, user_id=user_id, level_number=level_number, now=now)
        if running is None:
            _check_attempts_left(sat, settings)
    except AppError as exc:
        blocked = exc
    return Standing(rule, running, blocked, sat, settings.final_test_attempts_per_day)


def start(
    session: Session, *, user_id: int, level_number: int, settings: Settings, now: datetime
) -> tuple[FinalTestAttempt, Rule]:
    """Start a timed sitting (using one of the day's attempts) once the level's lessons are
    done; the running one when there is one, so a repeated POST starts nothing new."""
    level, rule = _level(session, level_number)
    _check_may_sit(session, level, user_id=user_id)
    running = running_attempt(session, user_id=user_id, level_number=level_number, now=now)
    if running is not None:
        return running, rule
    _check_attempts_left(
        sat_today(session, user_id=user_id, level_number=level_number, settings=settings, now=now),
        settings,
    )
    pool: list[dict[str, Any]] = []  # every quiz question of the level, marked with its lesson
    for lesson_id, version_id, content in session.execute(
        select(Lesson.id, LessonVersion.id, LessonVersion.content)
        .join(
            LessonVersion,
            (LessonVersion.lesson_id == Lesson.id)
            & (LessonVersion.version == Lesson.current_version),
        )
        .where(Lesson.level_number == level_number, Lesson.is_active.is_(True))
        .order_by(Lesson.position)
    ):
        pool += [
            {**q, "_lesson": lesson_id, "_version": version_id}
            for q in content["quiz"]["questions"]
        ]
    questions = [
        {
            "key": f"{q['_lesson']}:{q['id']}",
            "version_id": q["_version"],
            "id": q["id"],
            "order": order,
        }
        for q, order in quiz.draw(pool, min(rule.questions, len(pool)))
    ]
    attempt = FinalTestAttempt(
        user_id=user_id,
        level_number=level_number,
        day=local_day(now, settings.tz),
        questions=questions,
        deadline_at=now + timedelta(minutes=rule.minutes),
    )
    session.add(attempt)
    session.flush()
    return attempt, rule


def answer(
    session: Session,
    *,
    user_id: int,
    level_number: int,
    attempt_id: int,
    answers: dict[str, Any],
    settings: Settings,
    now: datetime,
) -> FinalTestResult:
    """Check a sitting once. Answers sent after the time limit (and a minute's grace) are
    not counted: the sitting is closed as not passed."""
    _level_row, rule = _level(session, level_number)
    attempt = session.get(FinalTestAttempt, attempt_id)
    if attempt is None or attempt.user_id != user_id or attempt.level_number != level_number:
        raise NotFound("Không tìm thấy lần làm bài kiểm tra này.")
    if attempt.submitted_at is not None:
        raise Conflict("Lần làm bài này đã được chấm.", code="already_answered")
    drawn = drawn_of(session, attempt)
    late = now > attempt.deadline_at + GRACE
    given = {} if late else quiz.parse_answers(drawn, answers)
    checked = [] if late else quiz.check(drawn, given)
    attempt.answers = given
    attempt.correct = sum(q.correct for q in checked)
    attempt.percent = round(attempt.correct * 100 / len(drawn)) if drawn else 0
    attempt.passed = not late and attempt.percent >= rule.pass_mark
    attempt.submitted_at = now
    session.flush()
    if attempt.passed:
        from app.certificates import service as certificates

        certificates.consider(
            session, user_id=user_id, level_number=level_number, settings=settings, now=now
        )
    return FinalTestResult(attempt, checked, rule.pass_mark, late)
