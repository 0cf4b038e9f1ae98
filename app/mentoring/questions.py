"""Questions and answers under lessons, and their moderation.

Learners ask under a lesson they can open; anyone who can open it answers; the asker
accepts one answer, once (final: changing it would let points move back and forth), which
earns the answerer `points_answer_accepted` unless they answered their own question.
Personal data (phone and identity numbers, e-mail addresses) is masked before a post is
stored. Anyone signed in reports a post once; `reports_to_hide` open reports hide it until
a moderator looks. Moderators (admins everywhere; unit admins and mentors over questions
asked in their unit's subtree) hide with a reason or show again; either resolves the open
reports. Everything here only flushes: the request's transaction commits."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeVar

from sqlalchemy import ColumnElement, and_, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.config import Settings
from app.core.audit import record_audit
from app.core.clock import day_range, local_day
from app.core.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests
from app.core.text import clean_post, given_name, mask_personal
from app.gamification.ledger import award
from app.learning.path import check_open, learner_path
from app.models import ROLE_LABELS, Answer, Lesson, PostReport, Question, Role, Unit, User
from app.notifications.service import notify

PostType = Literal["question", "answer"]
P = TypeVar("P", Question, Answer)
POST_TYPES: tuple[PostType, ...] = ("question", "answer")
QUESTION_CHARS = (10, 1000)
ANSWER_CHARS = (5, 2000)
REASON_CHARS = (3, 300)  # a moderator's reason for hiding
NOTE_MAX = 300  # a reporter's note
PAGE_SIZE = 20
SUMMARY_SIZE = 3
QUEUE_SIZE = 100
REPORT_REASONS: dict[str, str] = {
    "spam": "Quảng cáo, spam",
    "misinformation": "Sai sự thật",
    "personal_data": "Thông tin cá nhân",
    "abuse": "Xúc phạm",
    "other": "Khác",
}
MASKED_NOTICE = (
    "Để bảo vệ bạn, số điện thoại, số giấy tờ hoặc địa chỉ thư điện tử trong bài đã được "
    "thay bằng “[đã ẩn]” trước khi đăng."
)
AUTO_HIDDEN_REASON = "Bài bị nhiều người báo cáo, đang chờ người hướng dẫn xem xét."
STAFF_ROLES = (Role.admin, Role.unit_admin)
MODERATOR_ROLES = (Role.admin, Role.unit_admin, Role.mentor)


# ---- who reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """The person reading or writing: enough to decide what they see and may do."""

    id: int
    role: Role
    unit_path: str

    @property
    def is_moderator(self) -> bool:
        return self.role in MODERATOR_ROLES


def reader_of(principal: Principal) -> Reader:
    return Reader(principal.user.id, principal.user.role, principal.unit_path)


def reader_by_id(session: Session, user_id: int) -> Reader:
    row = session.execute(
        select(User.role, Unit.path).join(Unit, Unit.id == User.unit_id).where(User.id == user_id)
    ).first()
    if row is None:
        raise NotFound("Không tìm thấy tài khoản.")
    return Reader(user_id, row[0], row[1])


def can_moderate(reader: Reader, unit_path: str) -> bool:
    """Admins everywhere; unit admins and mentors over their unit's subtree."""
    if reader.role == Role.admin:
        return True
    if reader.role in (Role.unit_admin, Role.mentor) and reader.unit_path:
        return unit_path.startswith(reader.unit_path)
    return False


def ensure_moderator(reader: Reader, unit_path: str) -> None:
    if not reader.is_moderator:
        raise Forbidden("Bạn không có quyền kiểm duyệt bài viết.")
    if not can_moderate(reader, unit_path):
        raise Forbidden("Bài viết này nằm ngoài phạm vi kiểm duyệt của bạn.")


def _scope_filter(reader: Reader) -> ColumnElement[bool]:
    """Questions the reader moderates (nothing for learners)."""
    if reader.role == Role.admin:
        return Question.id.is_not(None)
    if reader.role in (Role.unit_admin, Role.mentor) and reader.unit_path:
        return Question.unit_path.startswith(reader.unit_path, autoescape=True)
    return false()


def open_lesson_for(session: Session, reader: Reader, lesson_id: str) -> Lesson:
    """The lesson when the reader may read and post under it: staff see every active lesson,
    everyone else the lessons open on their path (404 unknown, 403 `locked`)."""
    if reader.role in STAFF_ROLES:
        lesson = session.get(Lesson, lesson_id)
        if lesson is None or not lesson.is_active:
            raise NotFound("Không tìm thấy bài học.")
        return lesson
    return check_open(learner_path(session, reader.id).state_of(lesson_id)).lesson


def _check_thread_access(session: Session, reader: Reader, question: Question) -> Lesson:
    if can_moderate(reader, question.unit_path):
        lesson = session.get(Lesson, question.lesson_id)
        assert lesson is not None
        return lesson
    return open_lesson_for(session, reader, question.lesson_id)


# ---- what is shown --------------------------------------------------------------------------


@dataclass(frozen=True)
class Author:
    name: str  # the given name only (the last word of the full name)
    role_label: str  # "Người hướng dẫn" for mentors, "" for learners


def _authors(session: Session, ids: set[int]) -> dict[int, Author]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.full_name, User.role).where(User.id.in_(ids)))
    return {
        uid: Author(given_name(name, "Học viên"), "" if role == Role.learner else ROLE_LABELS[role])
        for uid, name, role in rows
    }


@dataclass
class PostView:
    """A question or an answer as one reader sees it. `body` is the text, or the notice
    "Nội dung đã bị ẩn: <lý do>" when the post is hidden and the reader is neither its
    author nor its moderator (`redacted`)."""

    type: PostType
    id: int
    question_id: int
    lesson_id: str
    author: Author
    body: str
    created_at: datetime
    mine: bool
    hidden: bool
    hidden_reason: str
    redacted: bool
    auto_hidden: bool = False  # hidden by reports, waiting for a moderator
    accepted: bool = False  # an answer that was accepted; a question with one
    answers: int = 0  # a question's visible answers
    reports: int | None = None  # open reports, for moderators only
    can_moderate: bool = False


def _view(
    post: Question | Answer,
    question: Question,
    reader: Reader,
    authors: dict[int, Author],
    *,
    accepted: bool = False,
    answers: int = 0,
) -> PostView:
    moderator = can_moderate(reader, question.unit_path)
    mine = post.user_id == reader.id
    redacted = post.hidden and not mine and not moderator
    body = f"Nội dung đã bị ẩn: {post.hidden_reason}" if redacted else post.body
    return PostView(
        type="question" if isinstance(post, Question) else "answer",
        id=post.id,
        question_id=question.id,
        lesson_id=question.lesson_id,
        author=authors.get(post.user_id, Author("Học viên", "")),
        body=body,
        created_at=post.created_at,
        mine=mine,
        hidden=post.hidden,
        hidden_reason=post.hidden_reason,
        redacted=redacted,
        auto_hidden=post.hidden and post.hidden_by_id is None,
        accepted=accepted,
        answers=answers,
        reports=post.reports if moderator else None,
        can_moderate=moderator,
    )


def _answer_stats(session: Session, question_ids: list[int]) -> dict[int, tuple[int, bool]]:
    """Per question: visible answers, and whether one was accepted."""
    if not question_ids:
        return {}
    stats: dict[int, tuple[int, bool]] = {}
    rows = session.execute(
        select(Answer.question_id, Answer.hidden, Answer.accepted).where(
            Answer.question_id.in_(question_ids)
        )
    )
    for qid, hidden, accepted in rows:
        count, any_accepted = stats.get(qid, (0, False))
        stats[qid] = (count + (0 if hidden else 1), any_accepted or accepted)
    return stats


def _question_views(session: Session, reader: Reader, questions: list[Question]) -> list[PostView]:
    authors = _authors(session, {q.user_id for q in questions})
    stats = _answer_stats(session, [q.id for q in questions])
    out = []
    for q in questions:
        count, accepted = stats.get(q.id, (0, False))
        out.append(_view(q, q, reader, authors, accepted=accepted, answers=count))
    return out


@dataclass
class LessonSummary:
    lesson_id: str
    count: int  # visible questions
    recent: list[PostView]


def lesson_summary(session: Session, *, lesson_id: str, viewer_id: int) -> LessonSummary:
    """What the lesson page shows: how many visible questions, and the latest few."""
    reader = reader_by_id(session, viewer_id)
    visible = and_(Question.lesson_id == lesson_id, Question.hidden.is_(False))
    count = session.scalar(select(func.count()).select_from(Question).where(visible)) or 0
    recent = list(
        session.scalars(
            select(Question)
            .where(visible)
            .order_by(Question.created_at.desc(), Question.id.desc())
            .limit(SUMMARY_SIZE)
        )
    )
    return LessonSummary(lesson_id, int(count), _question_views(session, reader, recent))


@dataclass
class QuestionPage:
    lesson: Lesson
    items: list[PostView]
    total: int
    page: int
    pages: int


def list_questions(
    session: Session, *, reader: Reader, lesson_id: str, page: int = 1
) -> QuestionPage:
    """A lesson's questions, newest first: the visible ones, the reader's own hidden ones,
    and for moderators the hidden ones in their scope (marked)."""
    lesson = open_lesson_for(session, reader, lesson_id)
    shown = and_(
        Question.lesson_id == lesson_id,
        or_(Question.hidden.is_(False), Question.user_id == reader.id, _scope_filter(reader)),
    )
    total = int(session.scalar(select(func.count()).select_from(Question).where(shown)) or 0)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = list(
        session.scalars(
            select(Question)
            .where(shown)
            .order_by(Question.created_at.desc(), Question.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    return QuestionPage(lesson, _question_views(session, reader, rows), total, page, pages)


@dataclass
class Thread:
    lesson: Lesson
    question: PostView
    answers: list[PostView]
    can_answer: bool
    can_accept: bool  # the asker, while no answer is accepted


def get_thread(session: Session, *, reader: Reader, question_id: int) -> Thread:
    question = _get(session, Question, question_id)
    lesson = _check_thread_access(session, reader, question)
    answers = list(
        session.scalars(
            select(Answer)
            .where(Answer.question_id == question.id)
            .order_by(Answer.accepted.desc(), Answer.created_at, Answer.id)
        )
    )
    authors = _authors(session, {question.user_id} | {a.user_id for a in answers})
    accepted = any(a.accepted for a in answers)
    visible = sum(not a.hidden for a in answers)
    return Thread(
        lesson=lesson,
        question=_view(question, question, reader, authors, accepted=accepted, answers=visible),
        answers=[_view(a, question, reader, authors, accepted=a.accepted) for a in answers],
        can_answer=not question.hidden,
        can_accept=question.user_id == reader.id and not accepted and not question.hidden,
    )


# ---- writing --------------------------------------------------------------------------------


def _text(raw: str, bounds: tuple[int, int], what: str) -> tuple[str, bool]:
    text = clean_post(raw)
    low, high = bounds
    if not low <= len(text) <= high:
        raise Invalid(
            f"{what} cần từ {low} đến {high} ký tự (hiện có {len(text)}).",
            code="invalid_length",
            extra={"field": "body"},
        )
    return mask_personal(text)


def _check_daily(
    session: Session,
    model: type[Question] | type[Answer],
    *,
    user_id: int,
    limit: int,
    what: str,
    settings: Settings,
    now: datetime,
) -> None:
    start, end = day_range(local_day(now, settings.tz), settings.tz)
    count = session.scalar(
        select(func.count())
        .select_from(model)
        .where(model.user_id == user_id, model.created_at >= start, model.created_at < end)
    )
    if (count or 0) >= limit:
        retry = max(1, int((end - now).total_seconds()))
        raise TooManyRequests(
            f"Hôm nay bạn đã gửi đủ {limit} {what}. Hãy quay lại vào ngày mai nhé.",
            code="daily_limit",
            headers={"Retry-After": str(retry)},
        )


def ask(
    session: Session,
    *,
    reader: Reader,
    lesson_id: str,
    body: str,
    settings: Settings,
    now: datetime,
) -> tuple[Question, bool]:
    """Ask under a lesson; returns the question and whether personal data was masked."""
    lesson = open_lesson_for(session, reader, lesson_id)
    text, masked = _text(body, QUESTION_CHARS, "Câu hỏi")
    _check_daily(
        session,
        Question,
        user_id=reader.id,
        limit=settings.questions_per_day,
        what="câu hỏi",
        settings=settings,
        now=now,
    )
    question = Question(
        lesson_id=lesson.id, user_id=reader.id, unit_path=reader.unit_path, body=text
    )
    session.add(question)
    session.flush()
    return question, masked


def _get(session: Session, model: type[P], post_id: int, *, lock: bool = False) -> P:
    """A question or an answer by id (row-locked when `lock`), or 404."""
    query = select(model).where(model.id == post_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    post = session.scalar(query)
    if post is None:
        raise NotFound(
            "Không tìm thấy câu hỏi." if model is Question else "Không tìm thấy câu trả lời."
        )
    return post


def _excerpt(text: str, size: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[: size - 1].rstrip() + "…"


def answer_question(
    session: Session,
    *,
    reader: Reader,
    question_id: int,
    body: str,
    settings: Settings,
    now: datetime,
) -> tuple[Answer, bool]:
    """Answer a question; the asker is notified. Returns the answer and whether personal
    data was masked."""
    question = _get(session, Question, question_id)
    _check_thread_access(session, reader, question)
    if question.hidden:
        raise Conflict("Câu hỏi này đang bị ẩn nên chưa thể trả lời.", code="hidden")
    text, masked = _text(body, ANSWER_CHARS, "Câu trả lời")
    _check_daily(
        session,
        Answer,
        user_id=reader.id,
        limit=settings.answers_per_day,
        what="câu trả lời",
        settings=settings,
        now=now,
    )
    answer = Answer(question_id=question.id, user_id=reader.id, body=text)
    session.add(answer)
    session.flush()
    if question.user_id != reader.id:
        notify(
            session,
            user_id=question.user_id,
            kind="answer",
            title="Câu hỏi của bạn có câu trả lời mới",
            body=_excerpt(text),
            link=f"/questions/{question.id}#answer-{answer.id}",
        )
    return answer, masked


def accept_answer(
    session: Session, *, reader: Reader, answer_id: int, settings: Settings, now: datetime
) -> Answer:
    """The asker accepts one answer, once; its author earns the points (not for one's own
    answer). 409 when an answer is already accepted."""
    answer = _get(session, Answer, answer_id)
    question = _get(session, Question, answer.question_id, lock=True)  # one accept at a time
    if question.user_id != reader.id:
        raise Forbidden("Chỉ người đặt câu hỏi mới chấp nhận được câu trả lời.")
    if question.hidden:
        raise Conflict("Câu hỏi này đang bị ẩn.", code="hidden")
    if answer.hidden:
        raise Conflict("Câu trả lời này đang bị ẩn nên không thể chấp nhận.", code="hidden")
    taken = session.scalar(
        select(Answer.id).where(Answer.question_id == question.id, Answer.accepted.is_(True))
    )
    if taken is not None:
        raise Conflict("Câu hỏi này đã có câu trả lời được chấp nhận.", code="already_accepted")
    answer.accepted = True
    session.flush()
    if answer.user_id != question.user_id:
        award(
            session,
            user_id=answer.user_id,
            kind="answer_accepted",
            points=settings.points_answer_accepted,
            key=f"answer_accepted:{question.id}",
            day=local_day(now, settings.tz),
            settings=settings,
            lesson_id=question.lesson_id,
            details={"question_id": question.id, "answer_id": answer.id},
        )
        notify(
            session,
            user_id=answer.user_id,
            kind="answer_accepted",
            title="Câu trả lời của bạn đã được chấp nhận",
            body=f"Bạn được cộng {settings.points_answer_accepted} điểm. Cảm ơn bạn đã giúp đỡ!",
            link=f"/questions/{question.id}#answer-{answer.id}",
        )
    return answer


# ---- moderation -----------------------------------------------------------------------------


def _post(
    session: Session, post_type: str, post_id: int, *, lock: bool = False
) -> tuple[Question | Answer, Question]:
    """The post and its question (the question is the post for a question)."""
    if post_type == "question":
        question = _get(session, Question, post_id, lock=lock)
        return question, question
    if post_type == "answer":
        answer = _get(session, Answer, post_id, lock=lock)
        return answer, _get(session, Question, answer.question_id)
    raise Invalid("Loại bài viết phải là câu hỏi (question) hoặc câu trả lời (answer).")


def _resolve_reports(
    session: Session, *, post_type: str, post_id: int, actor_id: int, now: datetime
) -> int:
    result = session.execute(
        update(PostReport)
        .where(
            PostReport.post_type == post_type,
            PostReport.post_id == post_id,
            PostReport.resolved_at.is_(None),
        )
        .values(resolved_at=now, resolved_by_id=actor_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass
class Reported:
    report: PostReport
    hidden_now: bool  # this report hid the post


def report_post(
    session: Session,
    *,
    reader: Reader,
    post_type: str,
    post_id: int,
    reason: str,
    note: str = "",
    settings: Settings,
    now: datetime,
) -> Reported:
    """Report a post, once per person; `reports_to_hide` open reports hide it until a
    moderator looks."""
    if reason not in REPORT_REASONS:
        raise Invalid(
            "Hãy chọn lý do báo cáo: " + ", ".join(REPORT_REASONS.values()) + ".",
            extra={"field": "reason"},
        )
    note = clean_post(note)
    if len(note) > NOTE_MAX:
        raise Invalid(f"Ghi chú tối đa {NOTE_MAX} ký tự.", extra={"field": "note"})
    post, question = _post(session, post_type, post_id, lock=True)
    _check_thread_access(session, reader, question)
    if post.user_id == reader.id:
        raise Invalid("Bạn không thể báo cáo bài viết của chính mình.", code="own_post")
    duplicate = Conflict("Bạn đã báo cáo bài viết này rồi. Cảm ơn bạn!", code="already_reported")
    exists = session.scalar(
        select(PostReport.id).where(
            PostReport.post_type == post_type,
            PostReport.post_id == post_id,
            PostReport.reporter_id == reader.id,
        )
    )
    if exists is not None:
        raise duplicate
    report = PostReport(
        post_type=post_type,
        post_id=post_id,
        reporter_id=reader.id,
        reason=reason,
        note=mask_personal(note)[0],
    )
    try:
        with session.begin_nested():
            session.add(report)
            session.flush()
    except IntegrityError as exc:  # the same person, twice at once
        raise duplicate from exc
    post.reports += 1
    hidden_now = False
    if not post.hidden and post.reports >= settings.reports_to_hide:
        post.hidden, post.hidden_reason, post.hidden_by_id = True, AUTO_HIDDEN_REASON, None
        hidden_now = True
        record_audit(
            session,
            actor_id=None,
            action=f"{post_type}.auto_hide",
            target_type=post_type,
            target_id=post.id,
            unit_path=question.unit_path,
            details={"reports": post.reports},
        )
        notify(
            session,
            user_id=post.user_id,
            kind="post_hidden",
            title="Bài viết của bạn đang tạm ẩn",
            body=AUTO_HIDDEN_REASON,
            link=f"/questions/{question.id}",
        )
    session.flush()
    return Reported(report, hidden_now)


def hide_post(
    session: Session,
    *,
    reader: Reader,
    post_type: str,
    post_id: int,
    reason: str,
    now: datetime,
) -> Question | Answer:
    """A moderator hides a post with a reason (shown in its place); its open reports are
    resolved and its author is told. A post hidden by reports can be hidden for good this
    way; one already hidden by a moderator is 409."""
    post, question = _post(session, post_type, post_id, lock=True)
    ensure_moderator(reader, question.unit_path)
    text = clean_post(reason)
    low, high = REASON_CHARS
    if not low <= len(text) <= high:
        raise Invalid(
            f"Hãy ghi lý do ẩn bài (từ {low} đến {high} ký tự).", extra={"field": "reason"}
        )
    text = mask_personal(text)[0]
    if post.hidden and post.hidden_by_id is not None:
        raise Conflict("Bài viết này đã bị ẩn.", code="already_hidden")
    resolved = _resolve_reports(
        session, post_type=post_type, post_id=post.id, actor_id=reader.id, now=now
    )
    post.hidden, post.hidden_reason, post.hidden_by_id = True, text, reader.id
    post.reports = 0
    session.flush()
    record_audit(
        session,
        actor_id=reader.id,
        action=f"{post_type}.hide",
        target_type=post_type,
        target_id=post.id,
        unit_path=question.unit_path,
        details={"reason": text, "reports_resolved": resolved},
    )
    if post.user_id != reader.id:
        notify(
            session,
            user_id=post.user_id,
            kind="post_hidden",
            title="Bài viết của bạn đã bị ẩn",
            body=f"Lý do: {text}",
            link=f"/questions/{question.id}",
        )
    return post


def unhide_post(
    session: Session,
    *,
    reader: Reader,
    post_type: str,
    post_id: int,
    note: str = "",
    now: datetime,
) -> Question | Answer:
    """A moderator shows a hidden post again, or keeps a reported one: either way its open
    reports are dismissed (409 for a visible post nobody reported)."""
    post, question = _post(session, post_type, post_id, lock=True)
    ensure_moderator(reader, question.unit_path)
    note = clean_post(note)
    if len(note) > NOTE_MAX:
        raise Invalid(f"Ghi chú tối đa {NOTE_MAX} ký tự.", extra={"field": "note"})
    if not post.hidden and post.reports == 0:
        raise Conflict("Bài viết này đang hiển thị.", code="not_hidden")
    was_hidden, before = post.hidden, post.hidden_reason
    resolved = _resolve_reports(
        session, post_type=post_type, post_id=post.id, actor_id=reader.id, now=now
    )
    post.hidden, post.hidden_reason, post.hidden_by_id = False, "", None
    post.reports = 0
    session.flush()
    record_audit(
        session,
        actor_id=reader.id,
        action=f"{post_type}.unhide",
        target_type=post_type,
        target_id=post.id,
        unit_path=question.unit_path,
        details={
            "was_hidden": was_hidden,
            "hidden_reason": before,
            "note": note,
            "reports_resolved": resolved,
        },
    )
    if was_hidden and post.user_id != reader.id:
        notify(
            session,
            user_id=post.user_id,
            kind="post_shown",
            title="Bài viết của bạn đã được hiển thị lại",
            body=note,
            link=f"/questions/{question.id}",
        )
    return post


@dataclass
class QueueItem:
    post: PostView
    lesson_title: str
    auto_hidden: bool  # hidden by reports, waiting for a moderator
    reasons: list[tuple[str, int]] = field(default_factory=list)  # label, open reports
    notes: list[str] = field(default_factory=list)


def moderation_queue(
    session: Session, *, reader: Reader, state: Literal["open", "hidden"] = "open"
) -> list[QueueItem]:
    """Posts in the reader's scope that need a look (`open`: reported, or hidden by
    reports) or that are hidden (`hidden`, to show one again). Posts hidden by reports come
    first, then the most reported, then the newest."""
    if not reader.is_moderator:
        raise Forbidden("Bạn không có quyền kiểm duyệt bài viết.")
    scope = _scope_filter(reader)

    def wanted(model: type[Question] | type[Answer]) -> ColumnElement[bool]:
        if state == "hidden":
            return model.hidden.is_(True)
        return or_(model.reports > 0, and_(model.hidden.is_(True), model.hidden_by_id.is_(None)))

    questions = list(
        session.scalars(
            select(Question)
            .where(scope, wanted(Question))
            .order_by(Question.created_at.desc())
            .limit(QUEUE_SIZE)
        )
    )
    answer_rows: list[tuple[Answer, Question]] = [
        (a, q)
        for a, q in session.execute(
            select(Answer, Question)
            .join(Question, Question.id == Answer.question_id)
            .where(scope, wanted(Answer))
            .order_by(Answer.created_at.desc())
            .limit(QUEUE_SIZE)
        )
    ]
    pairs: list[tuple[Question | Answer, Question]] = [(q, q) for q in questions]
    pairs += [(a, q) for a, q in answer_rows]
    if not pairs:
        return []
    authors = _authors(session, {p.user_id for p, _ in pairs})
    lessons: dict[str, str] = {
        lid: title
        for lid, title in session.execute(
            select(Lesson.id, Lesson.title).where(Lesson.id.in_({q.lesson_id for _, q in pairs}))
        )
    }
    reasons: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    notes: dict[tuple[str, int], list[str]] = defaultdict(list)
    for ptype, ids in (
        ("question", [q.id for q in questions]),
        ("answer", [a.id for a, _ in answer_rows]),
    ):
        if not ids:
            continue
        for report in session.scalars(
            select(PostReport)
            .where(
                PostReport.post_type == ptype,
                PostReport.post_id.in_(ids),
                PostReport.resolved_at.is_(None),
            )
            .order_by(PostReport.id)
        ):
            key = (ptype, report.post_id)
            reasons[key][REPORT_REASONS.get(report.reason, report.reason)] += 1
            if report.note:
                notes[key].append(report.note)
    items = []
    for post, question in pairs:
        view = _view(post, question, reader, authors, accepted=getattr(post, "accepted", False))
        key = (view.type, post.id)
        items.append(
            QueueItem(
                post=view,
                lesson_title=lessons.get(question.lesson_id, question.lesson_id),
                auto_hidden=post.hidden and post.hidden_by_id is None,
                reasons=reasons[key].most_common(),
                notes=notes[key],
            )
        )
    items.sort(
        key=lambda i: (not i.auto_hidden, -(i.post.reports or 0), -i.post.created_at.timestamp())
    )
    return items[:QUEUE_SIZE]


def post_view(session: Session, *, reader: Reader, post: Question | Answer) -> PostView:
    """One post as the reader sees it (after writing it, say)."""
    question = post if isinstance(post, Question) else _get(session, Question, post.question_id)
    authors = _authors(session, {post.user_id})
    if isinstance(post, Answer):
        return _view(post, question, reader, authors, accepted=post.accepted)
    count, accepted = _answer_stats(session, [question.id]).get(question.id, (0, False))
    return _view(question, question, reader, authors, accepted=accepted, answers=count)


def question_id_of(session: Session, *, post_type: str, post_id: int) -> int:
    """The thread a post belongs to (404 for a post that does not exist)."""
    return _post(session, post_type, post_id)[1].id
