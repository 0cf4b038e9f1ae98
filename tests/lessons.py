"""Helpers for tests on the fixture curriculum (tests/fixtures/curriculum)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.models import QuizAttempt

L1, L2, L3 = "b1-01-ai-la-gi", "b1-02-hoi-tiep", "b2-01-anh-dau-tien"
GOOD_TEXT = (
    "Câu hỏi 1: Tôi là công chức văn phòng UBND xã. Hãy cho biết AI giúp tôi việc gì, trong 5 "
    "ý. Câu hỏi 2: viết ngắn hơn và cho ví dụ. Nhận xét: AI trả lời đúng ý, cần kiểm tra lại "
    "tên văn bản pháp luật mà AI nhắc tới."
)


def right_answers(db: Session, attempt_id: int) -> dict:
    """What a learner who knows the lesson answers, in the attempt's display positions."""
    from app.learning.quiz import drawn_of
    from app.models import LessonVersion

    attempt = db.get(QuizAttempt, attempt_id)
    version = db.get(LessonVersion, attempt.lesson_version_id)
    return right_of(drawn_of(attempt, version))


def right_of(drawn) -> dict:
    """The right answers of drawn questions (lesson quiz or final test), by their keys."""
    from app.learning.quiz import check

    return {q.id: q.right for q in check(drawn, {d.key: None for d in drawn})}


def wrong(answer):
    if isinstance(answer, bool):
        return not answer
    if isinstance(answer, list):
        return [0, 1, 2] if answer != [0, 1, 2] else [0, 1]
    return (answer + 1) % 3
