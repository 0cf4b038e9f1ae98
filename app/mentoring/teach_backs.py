"""Teach-backs featured under their lesson ("Giải thích từ cộng đồng").

A learner ticks, when sending a teach-back, that it may be shown under the lesson
(`Submission.share_consent`); they can withdraw that later, which takes it down. Mentors of
the lesson's level whose unit subtree holds the author's unit, and administrators over the
author's unit, see the candidates (consented, graded, passed, at least `MIN_SCORE`, the
author's best one on the lesson, not yet featured) and feature one. Featuring writes the
row, an audit entry, a notification to the author and the author's points (once: the
ledger's idempotency key is the submission, so featuring again after un-featuring pays
nothing). Un-featuring does not take the points back: the work was good when it was chosen.

Under the lesson the best `featured_per_lesson` are shown, best score first, as masked
plain text, with the author's given name only. Nothing here commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from app.auth.service import Principal
from app.config import Settings
from app.core.audit import record_audit
from app.core.clock import local_day
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.text import given_name, mask_personal
from app.db import upsert_insert
from app.gamification import ledger
from app.mentoring.mentors import active_levels
from app.models import (
    FeaturedTeachBack,
    Lesson,
    Role,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    User,
)
from app.notifications.service import notify

MIN_SCORE = 80.0  # a candidate's grade out of 100 (and passed)
CANDIDATES_PER_LESSON = 5  # shown to a mentor per lesson, best first
POINTS_KIND = "teach_back_featured"
NOTIFY_KIND = "teach_back_featured"


@dataclass(frozen=True)
class Featured:
    """A featured teach-back as shown under its lesson."""

    submission_id: int
    lesson_id: str
    author_id: int
    author: str  # given name only
    text: str  # personal data masked
    score: float
    featured_at: datetime


@dataclass(frozen=True)
class Candidate:
    """A teach-back as a mentor sees it: a candidate, or one already featured."""

    submission_id: int
    lesson_id: str
    author: str  # given name only
    unit: str
    text: str  # personal data masked
    masked: bool  # something was masked
    score: float
    sent_at: datetime
    featured: bool


@dataclass
class LessonTeachBacks:
    lesson_id: str
    title: str
    level: int
    position: int
    featured_total: int = 0  # featured anywhere (the lesson shows the best few)
    featured: list[Candidate] = field(default_factory=list)  # in the reviewer's scope
    candidates: list[Candidate] = field(default_factory=list)


@dataclass(frozen=True)
class Reviewer:
    """Who may feature: the levels (None: every level) and the subtree they act on."""

    user_id: int
    levels: frozenset[int] | None
    path: str

    def may_feature(self, *, level: int, author_id: int, author_path: str) -> bool:
        return (
            author_id != self.user_id
            and (self.levels is None or level in self.levels)
            and author_path.startswith(self.path)
        )


def reviewer_of(session: Session, principal: Principal) -> Reviewer:
    """Admins everywhere, unit admins in their subtree (every level); mentors for the
    levels they mentor now, in their unit's subtree; anyone else is refused."""
    user = principal.user
    if user.role == Role.admin:
        return Reviewer(user.id, None, "")
    if user.role == Role.unit_admin:
        return Reviewer(user.id, None, principal.unit_path)
    levels = active_levels(session, user.id)
    if not levels:
        raise Forbidden(
            "Chỉ người hướng dẫn và quản trị viên mới chọn được bài giảng lại để giới thiệu.",
            code="not_mentor",
        )
    return Reviewer(user.id, levels, principal.unit_path)


# ---- under the lesson ------------------------------------------------------------------


def featured_for_lesson(session: Session, *, lesson_id: str, settings: Settings) -> list[Featured]:
    """The featured teach-backs shown under a lesson: at most `featured_per_lesson`, best
    score first (then the earliest featured), consent still given, author still active."""
    rows = session.execute(
        select(Submission, User.full_name, FeaturedTeachBack.created_at)
        .join(FeaturedTeachBack, FeaturedTeachBack.submission_id == Submission.id)
        .join(User, User.id == Submission.user_id)
        .where(
            FeaturedTeachBack.lesson_id == lesson_id,
            Submission.share_consent.is_(True),
            User.is_active.is_(True),
        )
        .order_by(Submission.score.desc(), FeaturedTeachBack.id)
        .limit(settings.featured_per_lesson)
    ).all()
    out = []
    for submission, full_name, featured_at in rows:
        text, _ = mask_personal(submission.text)
        out.append(
            Featured(
                submission_id=submission.id,
                lesson_id=submission.lesson_id,
                author_id=submission.user_id,
                author=given_name(full_name),
                text=text,
                score=float(submission.score or 0),
                featured_at=featured_at,
            )
        )
    return out


# ---- the mentor's list -----------------------------------------------------------------


def _scope(reviewer: Reviewer, level: int | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [Lesson.is_active.is_(True), User.is_active.is_(True)]
    if reviewer.path:
        conds.append(Unit.path.startswith(reviewer.path, autoescape=True))
    if reviewer.levels is not None:
        conds.append(Lesson.level_number.in_(sorted(reviewer.levels)))
    if level is not None:
        conds.append(Lesson.level_number == level)
    return conds


def _candidate(submission: Submission, full_name: str, unit: str, *, featured: bool) -> Candidate:
    text, masked = mask_personal(submission.text)
    return Candidate(
        submission_id=submission.id,
        lesson_id=submission.lesson_id,
        author=given_name(full_name),
        unit=unit,
        text=text,
        masked=masked,
        score=float(submission.score or 0),
        sent_at=submission.created_at,
        featured=featured,
    )


def review_list(
    session: Session, reviewer: Reviewer, *, level: int | None = None
) -> list[LessonTeachBacks]:
    """Per lesson (in course order): the teach-backs featured in the reviewer's scope and
    the best candidates, one per author (an author already featured on a lesson is not a
    candidate there again), at most CANDIDATES_PER_LESSON a lesson."""
    scope = _scope(reviewer, level)
    shown_before = aliased(Submission)
    author_featured = exists().where(
        FeaturedTeachBack.lesson_id == Submission.lesson_id,
        FeaturedTeachBack.submission_id == shown_before.id,
        shown_before.user_id == Submission.user_id,
    )
    ranked = (
        select(
            Submission.id.label("sid"),
            Submission.lesson_id.label("lesson_id"),
            Submission.score.label("score"),
            func.row_number()
            .over(
                partition_by=(Submission.lesson_id, Submission.user_id),
                order_by=(Submission.score.desc(), Submission.id),
            )
            .label("per_author"),
        )
        .join(User, User.id == Submission.user_id)
        .join(Unit, Unit.id == User.unit_id)
        .join(Lesson, Lesson.id == Submission.lesson_id)
        .where(
            Submission.kind == SubmissionKind.teach_back,
            Submission.status == SubmissionStatus.graded,
            Submission.passed.is_(True),
            Submission.score >= MIN_SCORE,
            Submission.share_consent.is_(True),
            Submission.user_id != reviewer.user_id,
            ~author_featured,
            *scope,
        )
        .subquery()
    )
    best = (
        select(
            ranked.c.sid,
            func.row_number()
            .over(partition_by=ranked.c.lesson_id, order_by=(ranked.c.score.desc(), ranked.c.sid))
            .label("per_lesson"),
        )
        .where(ranked.c.per_author == 1)
        .subquery()
    )
    chosen = select(best.c.sid).where(best.c.per_lesson <= CANDIDATES_PER_LESSON)
    base = (
        select(Submission, User.full_name, Unit.name)
        .join(User, User.id == Submission.user_id)
        .join(Unit, Unit.id == User.unit_id)
    )
    candidates = session.execute(
        base.where(Submission.id.in_(chosen)).order_by(Submission.score.desc(), Submission.id)
    ).all()
    featured = session.execute(
        base.join(FeaturedTeachBack, FeaturedTeachBack.submission_id == Submission.id)
        .join(Lesson, Lesson.id == Submission.lesson_id)
        .where(Submission.user_id != reviewer.user_id, *scope)
        .order_by(Submission.score.desc(), Submission.id)
        .limit(1000)
    ).all()

    lesson_ids = {s.lesson_id for s, _, _ in candidates} | {s.lesson_id for s, _, _ in featured}
    if not lesson_ids:
        return []
    lessons = {
        lesson.id: LessonTeachBacks(lesson.id, lesson.title, lesson.level_number, lesson.position)
        for lesson in session.scalars(select(Lesson).where(Lesson.id.in_(lesson_ids)))
    }
    totals = session.execute(
        select(FeaturedTeachBack.lesson_id, func.count())
        .where(FeaturedTeachBack.lesson_id.in_(lesson_ids))
        .group_by(FeaturedTeachBack.lesson_id)
    )
    for lesson_id, n in totals:
        lessons[lesson_id].featured_total = int(n)
    for submission, full_name, unit in featured:
        lessons[submission.lesson_id].featured.append(
            _candidate(submission, full_name, unit, featured=True)
        )
    for submission, full_name, unit in candidates:
        lessons[submission.lesson_id].candidates.append(
            _candidate(submission, full_name, unit, featured=False)
        )
    return sorted(lessons.values(), key=lambda x: (x.level, x.position))


# ---- featuring -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    submission_id: int
    lesson_id: str
    featured: bool
    points_awarded: int = 0  # points written now (0 when they were awarded before)


def _teach_back(session: Session, submission_id: int) -> tuple[Submission, Lesson, User, str]:
    """The teach-back (locked against a parallel consent change), its lesson, its author
    and the author's unit path; 404 for anything else."""
    submission = session.get(Submission, submission_id, with_for_update=True)
    if submission is None or submission.kind != SubmissionKind.teach_back:
        raise NotFound("Không tìm thấy bài giảng lại này.")
    lesson = session.get(Lesson, submission.lesson_id)
    author = session.get(User, submission.user_id)
    assert lesson is not None and author is not None
    author_path = session.scalar(select(Unit.path).where(Unit.id == author.unit_id)) or ""
    return submission, lesson, author, author_path


def _check_reviewer(reviewer: Reviewer, lesson: Lesson, author: User, author_path: str) -> None:
    if author.id == reviewer.user_id:
        raise Forbidden("Bạn không thể tự giới thiệu bài của mình.", code="own_teach_back")
    if not reviewer.may_feature(
        level=lesson.level_number, author_id=author.id, author_path=author_path
    ):
        raise Forbidden(
            "Bài này thuộc bậc hoặc đơn vị ngoài phạm vi hướng dẫn của bạn.", code="out_of_scope"
        )


def feature(
    session: Session,
    *,
    principal: Principal,
    submission_id: int,
    settings: Settings,
    now: datetime,
) -> Outcome:
    reviewer = reviewer_of(session, principal)
    submission, lesson, author, author_path = _teach_back(session, submission_id)
    _check_reviewer(reviewer, lesson, author, author_path)
    if not submission.share_consent:
        raise Conflict("Người học chưa đồng ý cho giới thiệu bài giảng lại này.", code="no_consent")
    if not (
        submission.status == SubmissionStatus.graded
        and submission.passed
        and (submission.score or 0) >= MIN_SCORE
    ):
        raise Conflict(
            f"Chỉ giới thiệu được bài đã chấm, đạt và từ {MIN_SCORE:.0f}/100 trở lên.",
            code="not_eligible",
        )
    if not author.is_active:
        raise Conflict("Tài khoản của người học đã ngừng hoạt động.", code="author_inactive")
    other = session.scalar(
        select(FeaturedTeachBack.submission_id)
        .join(Submission, Submission.id == FeaturedTeachBack.submission_id)
        .where(
            FeaturedTeachBack.lesson_id == lesson.id,
            Submission.user_id == author.id,
            FeaturedTeachBack.submission_id != submission.id,
        )
    )
    if other is not None:
        raise Conflict(
            "Một bài giảng lại khác của người này đã được giới thiệu dưới bài học.",
            code="author_featured",
        )
    table = FeaturedTeachBack.__table__
    inserted = session.execute(
        upsert_insert(session)(table)
        .values(
            submission_id=submission.id,
            lesson_id=lesson.id,
            featured_by_id=reviewer.user_id,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["submission_id"])
        .returning(table.c.id)
    ).scalar()
    if inserted is None:
        raise Conflict("Bài giảng lại này đã được giới thiệu.", code="already_featured")
    record_audit(
        session,
        actor_id=reviewer.user_id,
        action="teach_back.feature",
        target_type="submission",
        target_id=submission.id,
        unit_path=author_path,
        details={"lesson": lesson.id, "author_id": author.id, "score": submission.score},
    )
    notify(
        session,
        user_id=author.id,
        kind=NOTIFY_KIND,
        title=f"Bài giảng lại của bạn được giới thiệu dưới bài “{lesson.title}”",
        body="Cảm ơn bạn đã giải thích bài học bằng lời của mình cho mọi người cùng hiểu.",
        link=f"/lessons/{lesson.id}#featured",
    )
    event = ledger.award(
        session,
        user_id=author.id,
        kind=POINTS_KIND,
        points=settings.points_teach_back_featured,
        key=f"teach_back_featured:{submission.id}",
        day=local_day(now, settings.tz),
        settings=settings,
        lesson_id=lesson.id,
    )
    return Outcome(submission.id, lesson.id, True, event.points if event else 0)


def _unshow(session: Session, submission_id: int) -> bool:
    row = session.scalar(
        select(FeaturedTeachBack).where(FeaturedTeachBack.submission_id == submission_id)
    )
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def unfeature(session: Session, *, principal: Principal, submission_id: int) -> Outcome:
    """Take a teach-back down (its author keeps the points)."""
    reviewer = reviewer_of(session, principal)
    submission, lesson, author, author_path = _teach_back(session, submission_id)
    _check_reviewer(reviewer, lesson, author, author_path)
    if not _unshow(session, submission.id):
        raise Conflict("Bài giảng lại này chưa được giới thiệu.", code="not_featured")
    record_audit(
        session,
        actor_id=reviewer.user_id,
        action="teach_back.unfeature",
        target_type="submission",
        target_id=submission.id,
        unit_path=author_path,
        details={"lesson": lesson.id, "author_id": author.id},
    )
    return Outcome(submission.id, lesson.id, False)


# ---- the author's consent --------------------------------------------------------------


def set_consent(session: Session, *, user_id: int, submission_id: int, consent: bool) -> Outcome:
    """The author gives or withdraws consent; withdrawing takes a featured one down."""
    submission = session.get(Submission, submission_id, with_for_update=True)
    if submission is None or submission.user_id != user_id:
        raise NotFound("Không tìm thấy bài đã gửi.")
    if submission.kind != SubmissionKind.teach_back:
        raise Invalid("Chỉ bài giảng lại mới có thể được giới thiệu.", code="not_teach_back")
    submission.share_consent = consent
    taken_down = False if consent else _unshow(session, submission.id)
    if taken_down:
        author_path = session.scalar(
            select(Unit.path).join(User, User.unit_id == Unit.id).where(User.id == user_id)
        )
        record_audit(
            session,
            actor_id=user_id,
            action="teach_back.withdraw",
            target_type="submission",
            target_id=submission.id,
            unit_path=author_path or "",
            details={"lesson": submission.lesson_id},
        )
    session.flush()
    featured = consent and is_featured(session, submission.id)
    return Outcome(submission.id, submission.lesson_id, featured)


def is_featured(session: Session, submission_id: int) -> bool:
    return bool(
        session.scalar(select(exists().where(FeaturedTeachBack.submission_id == submission_id)))
    )


@dataclass(frozen=True)
class Shared:
    """One of the learner's teach-backs they agreed to share."""

    submission_id: int
    lesson_id: str
    lesson_title: str
    sent_at: datetime
    score: float | None
    featured: bool


def my_shared(session: Session, user_id: int, *, limit: int = 200) -> list[Shared]:
    """The learner's teach-backs with consent given, newest first."""
    rows = session.execute(
        select(Submission, Lesson.title, FeaturedTeachBack.id)
        .join(Lesson, Lesson.id == Submission.lesson_id)
        .outerjoin(FeaturedTeachBack, FeaturedTeachBack.submission_id == Submission.id)
        .where(
            and_(
                Submission.user_id == user_id,
                Submission.kind == SubmissionKind.teach_back,
                Submission.share_consent.is_(True),
            )
        )
        .order_by(Submission.id.desc())
        .limit(limit)
    ).all()
    return [
        Shared(s.id, s.lesson_id, title, s.created_at, s.score, featured_id is not None)
        for s, title, featured_id in rows
    ]
