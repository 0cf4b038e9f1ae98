"""The mentors' review queue: submissions that need a human look, and the decisions.

An item is one reason to look again at one submission:
- `flagged`: grading flagged it (low confidence, a provisional offline grade, a sanity-gate
  flag, a near-duplicate). The first review decides: the mentor's grade replaces the
  automatic one.
- `sample`: an ordinary grade drawn for quality control (`review_sample_rate`, drawn by a
  keyed hash of the submission, so the same grade is always in or out). A review within
  `review_disagreement` points of the automatic grade (and on the same side of the pass
  mark) confirms it; beyond that, a second mentor or an admin decides.
- `appeal`: the learner appealed, once per submission, within `appeal_days` of the grade.
  A first mentor reviews, then a second mentor or an admin decides.
A review by an admin (or a unit admin over the learner) always decides.

A mentor sees items of the levels they mentor, never their own work, never an item they
reviewed already; their unit's subtree first, and the next unit up only when nothing is
waiting nearer. Opening an item holds it for `review_claim_minutes`, so two mentors do not
grade the same work at once; two reviews sent at the same moment still end in one
decision (the decision is a compare-and-set on the item's status).

A decision that changes the grade updates the submission, adds a history row (grader
`mentor` or `admin`), moves the learner's points through `progress.record_grade`, and is
written to the audit log with the reason; the learner is notified either way. Reviews
whose grade agrees with the decision (within `review_agreement` points, same pass or
fail) earn their mentor `points_mentor_review`, once per review (calibration, as in
Moodle's Workshop)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.config import Settings
from app.core.audit import record_audit
from app.core.clock import local_day
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.curriculum.schema import BANDS
from app.gamification import ledger
from app.grading.types import GradingTask
from app.learning import progress
from app.mentoring.mentors import active_levels
from app.models import (
    GradeRecord,
    Lesson,
    LessonVersion,
    Review,
    ReviewItem,
    ReviewKind,
    ReviewStatus,
    Role,
    Submission,
    SubmissionStatus,
    Unit,
    User,
    utcnow,
)
from app.notifications.service import notify
from app.orgs.service import ancestors

ADMIN_ROLES = (Role.admin, Role.unit_admin)
WAITING = (ReviewStatus.open, ReviewStatus.second)
QUEUE_SIZE = 50
APPEAL_MIN, APPEAL_MAX = 10, 500
FEEDBACK_MIN, FEEDBACK_MAX = 10, 2000


# ---- putting items in the queue -------------------------------------------------------------
@dataclass(frozen=True)
class Graded:
    """A grade just stored by the grading worker (what the queue needs of it)."""

    submission_id: int
    user_id: int
    lesson_id: str
    score: float
    passed: bool
    flags: tuple[str, ...]
    needs_review: bool


def sampled(submission_id: int, settings: Settings) -> bool:
    """Whether an ordinary grade is drawn for quality control: a keyed hash of the
    submission, so the draw is fixed (a re-grade does not draw again) and not guessable."""
    if settings.review_sample_rate <= 0:
        return False
    digest = hmac.new(
        settings.secret_key.encode(), f"review-sample:{submission_id}".encode(), hashlib.sha256
    ).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < settings.review_sample_rate


def enqueue_graded(session: Session, *, grades: list[Graded], settings: Settings) -> int:
    """After grades are stored: flagged ones go to the queue, a sample of the others too.
    A re-grade updates the waiting item's grade; a re-grade that no longer needs a human
    closes a flagged item nobody has reviewed yet. Returns the items opened."""
    wanted = [g for g in grades if g.needs_review or sampled(g.submission_id, settings)]
    ids = [g.submission_id for g in grades]
    existing = {
        (item.submission_id, item.kind): item
        for item in session.scalars(
            select(ReviewItem).where(
                ReviewItem.submission_id.in_(ids),
                ReviewItem.kind.in_([ReviewKind.flagged, ReviewKind.sample]),
            )
        )
    }
    for g in grades:  # a re-grade of something waiting
        item = existing.get((g.submission_id, ReviewKind.flagged))
        if item is None or item.status == ReviewStatus.decided:
            continue
        item.auto_score, item.auto_passed = g.score, g.passed
        item.reason = ", ".join(g.flags)
        reviewed = session.scalar(select(exists().where(Review.item_id == item.id)))
        if not g.needs_review and not reviewed:
            item.status = ReviewStatus.decided
            item.decided_score, item.decided_passed = g.score, g.passed
            item.decision_note = "Đã được chấm lại tự động, không còn cần người xem."
    if not wanted:
        session.flush()
        return 0
    where = _placement(session, [g.submission_id for g in wanted])
    opened = 0
    for g in wanted:
        kind = ReviewKind.flagged if g.needs_review else ReviewKind.sample
        if (g.submission_id, kind) in existing or g.submission_id not in where:
            continue
        level_number, unit_path = where[g.submission_id]
        session.add(
            ReviewItem(
                submission_id=g.submission_id,
                learner_id=g.user_id,
                kind=kind,
                status=ReviewStatus.open,
                level_number=level_number,
                unit_path=unit_path,
                reason=", ".join(g.flags),
                auto_score=g.score,
                auto_passed=g.passed,
            )
        )
        opened += 1
    session.flush()
    return opened


def _placement(session: Session, submission_ids: list[int]) -> dict[int, tuple[int, str]]:
    """Each submission's level and its author's unit path."""
    rows = session.execute(
        select(Submission.id, Lesson.level_number, Unit.path)
        .join(Lesson, Lesson.id == Submission.lesson_id)
        .join(User, User.id == Submission.user_id)
        .join(Unit, Unit.id == User.unit_id)
        .where(Submission.id.in_(submission_ids))
    )
    return {sid: (level, path) for sid, level, path in rows}


# ---- appeals --------------------------------------------------------------------------------
def appeal(
    session: Session,
    *,
    user: User,
    submission_id: int,
    reason: str,
    settings: Settings,
    now: datetime,
) -> ReviewItem:
    """The learner asks for a human to look at a grade again: once per submission."""
    submission = session.get(Submission, submission_id)
    if submission is None or submission.user_id != user.id:
        raise NotFound("Không tìm thấy bài làm này.")
    if submission.status != SubmissionStatus.graded or submission.graded_at is None:
        raise Conflict("Bài làm chưa được chấm xong nên chưa thể khiếu nại.")
    if now - submission.graded_at > timedelta(days=settings.appeal_days):
        raise Conflict(f"Chỉ khiếu nại được trong {settings.appeal_days} ngày sau khi có điểm.")
    text = " ".join(reason.split())
    if not APPEAL_MIN <= len(text) <= APPEAL_MAX:
        raise Invalid(
            f"Lý do khiếu nại cần từ {APPEAL_MIN} đến {APPEAL_MAX} ký tự.",
            extra={"field": "reason"},
        )
    taken = session.scalar(
        select(
            exists().where(
                ReviewItem.submission_id == submission_id, ReviewItem.kind == ReviewKind.appeal
            )
        )
    )
    if taken:
        raise Conflict("Bạn đã khiếu nại bài làm này rồi (mỗi bài chỉ một lần).")
    level_number, unit_path = _placement(session, [submission_id])[submission_id]
    item = ReviewItem(
        submission_id=submission_id,
        learner_id=user.id,
        kind=ReviewKind.appeal,
        status=ReviewStatus.open,
        level_number=level_number,
        unit_path=unit_path,
        reason=text,
        auto_score=float(submission.score or 0),
        auto_passed=bool(submission.passed),
    )
    session.add(item)
    session.flush()
    record_audit(
        session,
        actor_id=user.id,
        action="grade.appeal",
        target_type="submission",
        target_id=submission_id,
        unit_path=unit_path,
        details={"item": item.id, "score": item.auto_score},  # the words stay on the item
    )
    return item


def appeal_of(session: Session, submission_id: int) -> ReviewItem | None:
    return session.scalar(
        select(ReviewItem).where(
            ReviewItem.submission_id == submission_id, ReviewItem.kind == ReviewKind.appeal
        )
    )


def appeal_states(
    session: Session, submission_ids: list[int], *, settings: Settings, now: datetime
) -> dict[int, dict[str, Any]]:
    """For the lesson page: each shown submission's appeal (its state), or whether one may
    still be made (`{"open": True}`)."""
    if not submission_ids:
        return {}
    made = {
        item.submission_id: item
        for item in session.scalars(
            select(ReviewItem).where(
                ReviewItem.submission_id.in_(submission_ids),
                ReviewItem.kind == ReviewKind.appeal,
            )
        )
    }
    since = now - timedelta(days=settings.appeal_days)
    out: dict[int, dict[str, Any]] = {}
    for sid, status, graded_at in session.execute(
        select(Submission.id, Submission.status, Submission.graded_at).where(
            Submission.id.in_(submission_ids)
        )
    ):
        if sid in made:
            out[sid] = appeal_state(made[sid]) or {}
        elif status == SubmissionStatus.graded and graded_at is not None and graded_at >= since:
            out[sid] = {"open": True}
    return out


def appeal_state(item: ReviewItem | None) -> dict[str, Any] | None:
    """Where an appeal stands, in the learner's words."""
    if item is None:
        return None
    if item.status == ReviewStatus.open:
        text = "Đang chờ người hướng dẫn xem lại."
    elif item.status == ReviewStatus.second:
        text = "Đã có người hướng dẫn xem; đang chờ người thứ hai quyết định."
    elif item.decided_score is not None and round(item.decided_score) != round(item.auto_score):
        text = f"Đã xem lại: điểm đổi từ {item.auto_score:.0f} thành {item.decided_score:.0f}/100."
    else:
        text = f"Đã xem lại: giữ nguyên {item.auto_score:.0f}/100."
    return {
        "id": item.id,
        "status": item.status.value,
        "text": text,
        "reason": item.reason,
        "note": item.decision_note if item.status == ReviewStatus.decided else "",
        "decided_at": item.decided_at,
    }


# ---- who sees what --------------------------------------------------------------------------
@dataclass
class Queue:
    items: list[ReviewItem]
    scope_path: str  # the subtree the items come from
    scope_name: str
    widened: bool  # a mentor serving beyond their own unit (nothing waiting nearer)
    levels: frozenset[int] = field(default_factory=frozenset)


def _is_admin(principal: Principal) -> bool:
    return principal.user.role in ADMIN_ROLES


def _admin_scope(principal: Principal) -> str:
    return "" if principal.user.role == Role.admin else principal.unit_path


def _available(principal: Principal, levels: frozenset[int], now: datetime) -> Any:
    """The conditions an item meets to be offered to this person."""
    me = principal.user.id
    conditions = [
        ReviewItem.status.in_(WAITING),
        ReviewItem.learner_id != me,
        ~exists().where(Review.item_id == ReviewItem.id, Review.reviewer_id == me),
        (ReviewItem.claimed_by_id.is_(None))
        | (ReviewItem.claimed_by_id == me)
        | (ReviewItem.claimed_until < now),
    ]
    if not _is_admin(principal):
        conditions.append(ReviewItem.level_number.in_(sorted(levels)))
    return conditions


def _mentor_scope(
    session: Session, principal: Principal, levels: frozenset[int], now: datetime
) -> tuple[Unit | None, bool]:
    """The nearest unit (the mentor's own, then each one above) whose subtree has something
    waiting for them; the mentor's own unit when nothing waits anywhere."""
    own = session.get(Unit, principal.user.unit_id)
    if own is None or not levels:
        return own, False
    chain = [own, *reversed(ancestors(session, own))]
    conditions = _available(principal, levels, now)
    for depth, unit in enumerate(chain):
        waiting = session.scalar(
            select(
                exists().where(
                    ReviewItem.unit_path.startswith(unit.path, autoescape=True), *conditions
                )
            )
        )
        if waiting:
            return unit, depth > 0
    return own, False


def queue(
    session: Session, principal: Principal, *, now: datetime, limit: int = QUEUE_SIZE
) -> Queue:
    """What this mentor (or admin) should look at next: appeals and second opinions first,
    then flagged work, then samples; oldest first within each."""
    if _is_admin(principal):
        levels: frozenset[int] = frozenset()
        path = _admin_scope(principal)
        unit = session.scalar(select(Unit).where(Unit.path == path)) if path else None
        name, widened = (unit.name if unit else "Toàn hệ thống"), False
    elif principal.user.role == Role.mentor:
        levels = active_levels(session, principal.user.id)
        scope_unit, widened = _mentor_scope(session, principal, levels, now)
        path = scope_unit.path if scope_unit else principal.unit_path
        name = scope_unit.name if scope_unit else ""
    else:
        raise Forbidden("Chỉ người hướng dẫn và quản trị viên xem được hàng chờ chấm bài.")
    if not _is_admin(principal) and not levels:
        return Queue([], path, name, False, levels)
    order = (
        (ReviewItem.status == ReviewStatus.second).desc(),
        (ReviewItem.kind == ReviewKind.appeal).desc(),
        (ReviewItem.kind == ReviewKind.flagged).desc(),
        ReviewItem.id,
    )
    items = session.scalars(
        select(ReviewItem)
        .where(
            ReviewItem.unit_path.startswith(path, autoescape=True),
            *_available(principal, levels, now),
        )
        .order_by(*order)
        .limit(limit)
    ).all()
    return Queue(list(items), path, name, widened, levels)


def waiting_count(session: Session, principal: Principal, *, now: datetime) -> int:
    """How many items wait for this person (the home page's and the menu's figure)."""
    found = queue(session, principal, now=now, limit=QUEUE_SIZE)
    return len(found.items)


def _check_access(session: Session, principal: Principal, item: ReviewItem, now: datetime) -> None:
    """Admins within their scope; mentors for their levels, within the subtree their queue
    serves now, never their own work."""
    if _is_admin(principal):
        if not item.unit_path.startswith(_admin_scope(principal)):
            raise NotFound("Không tìm thấy mục cần xem lại.")
        return
    if principal.user.role != Role.mentor:
        raise Forbidden("Chỉ người hướng dẫn và quản trị viên xem được bài cần chấm.")
    levels = active_levels(session, principal.user.id)
    if item.level_number not in levels or item.learner_id == principal.user.id:
        raise NotFound("Không tìm thấy mục cần xem lại.")
    scope_unit, _ = _mentor_scope(session, principal, levels, now)
    scope = scope_unit.path if scope_unit else principal.unit_path
    if not item.unit_path.startswith(scope):
        raise NotFound("Không tìm thấy mục cần xem lại.")


def get_item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound("Không tìm thấy mục cần xem lại.")
    return item


def may_see_submission(session: Session, principal: Principal, submission_id: int) -> bool:
    """Whether a mentor may see a submission's picture: it waits for them in the queue."""
    if principal.user.role != Role.mentor:
        return False
    now = utcnow()
    for item in session.scalars(
        select(ReviewItem).where(
            ReviewItem.submission_id == submission_id, ReviewItem.status.in_(WAITING)
        )
    ):
        try:
            _check_access(session, principal, item, now)
        except (NotFound, Forbidden):
            continue
        return True
    return False


def open_item(
    session: Session, principal: Principal, *, item_id: int, settings: Settings, now: datetime
) -> ReviewItem:
    """Look at an item to review it: it is held for this person for a while (admins look
    without holding it). A decided item can still be read by those who may see it."""
    item = get_item(session, item_id)
    _check_access(session, principal, item, now)
    if item.status == ReviewStatus.decided or _is_admin(principal):
        return item
    mine = session.scalar(
        select(exists().where(Review.item_id == item.id, Review.reviewer_id == principal.user.id))
    )
    if mine:
        return item
    held = session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.id == item.id,
            (ReviewItem.claimed_by_id.is_(None))
            | (ReviewItem.claimed_by_id == principal.user.id)
            | (ReviewItem.claimed_until < now),
        )
        .values(
            claimed_by_id=principal.user.id,
            claimed_until=now + timedelta(minutes=settings.review_claim_minutes),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not held:
        raise Conflict("Một người hướng dẫn khác đang xem bài này. Hãy chọn bài khác.")
    session.refresh(item)
    return item


# ---- the review form's data -----------------------------------------------------------------
@dataclass(frozen=True)
class ItemView:
    item: ReviewItem
    submission: Submission
    lesson_title: str
    task: GradingTask
    auto_criteria: dict[str, dict[str, Any]]  # criterion id → {score, comment}
    auto_feedback: str
    reviews: list[Review]


def item_view(session: Session, item: ReviewItem) -> ItemView:
    submission = session.get(Submission, item.submission_id)
    assert submission is not None
    version = session.get(LessonVersion, submission.lesson_version_id)
    assert version is not None
    task = GradingTask.from_content(version.content, kind=submission.kind.value, text="")
    graded = submission.result or {}
    reviews = list(
        session.scalars(select(Review).where(Review.item_id == item.id).order_by(Review.id))
    )
    return ItemView(
        item=item,
        submission=submission,
        lesson_title=str(version.content.get("title", submission.lesson_id)),
        task=task,
        auto_criteria={str(c.get("id")): c for c in graded.get("criteria", [])},
        auto_feedback=str(graded.get("feedback") or ""),
        reviews=reviews,
    )


# ---- reviewing and deciding -----------------------------------------------------------------
def submit_review(
    session: Session,
    principal: Principal,
    *,
    item_id: int,
    scores: dict[str, int],
    comments: dict[str, str],
    feedback: str,
    settings: Settings,
    now: datetime,
) -> ReviewItem:
    """Grade an item with the lesson's rubric. Decides it when the policy says this review
    decides; otherwise it waits for a second opinion."""
    item = session.scalar(select(ReviewItem).where(ReviewItem.id == item_id).with_for_update())
    if item is None:
        raise NotFound("Không tìm thấy mục cần xem lại.")
    _check_access(session, principal, item, now)
    if item.status == ReviewStatus.decided:
        raise Conflict("Bài này đã có quyết định; không cần chấm thêm.")
    me = principal.user.id
    if session.scalar(select(exists().where(Review.item_id == item.id, Review.reviewer_id == me))):
        raise Conflict("Bạn đã chấm mục này rồi.")
    if (
        not _is_admin(principal)
        and item.claimed_by_id not in (None, me)
        and item.claimed_until is not None
        and item.claimed_until >= now
    ):
        raise Conflict("Một người hướng dẫn khác đang chấm bài này.")
    view = item_view(session, item)
    if view.submission.status != SubmissionStatus.graded:
        raise Conflict("Bài này đang được máy chấm lại; hãy thử lại sau ít phút.")
    criteria = _checked_scores(view.task, scores, comments)
    text = feedback.strip()
    if not FEEDBACK_MIN <= len(text) <= FEEDBACK_MAX:
        raise Invalid(
            f"Lời nhận xét cho học viên cần từ {FEEDBACK_MIN} đến {FEEDBACK_MAX} ký tự.",
            extra={"field": "feedback"},
        )
    score = view.task.total({c["id"]: c["score"] for c in criteria})
    # the mentor is the human the gates asked for: their grade stands on its own
    passed = score >= view.task.pass_mark
    review = Review(
        item_id=item.id,
        reviewer_id=me,
        role=principal.user.role.value,
        criteria=criteria,
        score=score,
        passed=passed,
        feedback=text,
    )
    session.add(review)
    session.flush()
    expected = item.status
    decides = (
        _is_admin(principal)
        or item.kind == ReviewKind.flagged
        or item.status == ReviewStatus.second
    )
    if decides:
        _decide(session, item, review, expected=expected, settings=settings, now=now)
    elif item.kind == ReviewKind.sample and _agrees(
        score, passed, item.auto_score, item.auto_passed, settings.review_disagreement
    ):  # the automatic grade is confirmed
        _decide(session, item, review, expected=expected, settings=settings, now=now, keep=True)
    else:  # an appeal's first review, or a sample the mentor disagrees with
        _advance(session, item, expected=expected, values={"status": ReviewStatus.second})
    record_audit(
        session,
        actor_id=me,
        action="review.submit",
        target_type="review_item",
        target_id=item.id,
        unit_path=item.unit_path,
        details={"submission": item.submission_id, "score": score, "passed": passed},
    )
    return item


def _checked_scores(
    task: GradingTask, scores: dict[str, int], comments: dict[str, str]
) -> list[dict[str, Any]]:
    out = []
    for criterion in task.criteria:
        value = scores.get(criterion.id)
        if value is None or value not in BANDS:
            raise Invalid(
                f"Hãy chọn mức cho tiêu chí “{criterion.name}” (từ {min(BANDS)} đến {max(BANDS)}).",
                extra={"field": f"score_{criterion.id}"},
            )
        comment = " ".join((comments.get(criterion.id) or "").split())[:300]
        out.append({"id": criterion.id, "score": int(value), "comment": comment})
    unknown = set(scores) - {c.id for c in task.criteria}
    if unknown:
        raise Invalid("Có tiêu chí không thuộc thang chấm của bài này.", extra={"field": "scores"})
    return out


def _agrees(score: float, passed: bool, other: float, other_passed: bool, within: float) -> bool:
    return abs(score - other) <= within and passed == other_passed


def _advance(
    session: Session, item: ReviewItem, *, expected: ReviewStatus, values: dict[str, Any]
) -> None:
    """Move the item on, if nobody else moved it first (two reviews sent at the same moment
    end in one decision: the later one finds the status changed and is refused)."""
    moved = session.execute(
        update(ReviewItem)
        .where(ReviewItem.id == item.id, ReviewItem.status == expected)
        .values(claimed_by_id=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        raise Conflict("Bài này vừa được người khác chấm xong. Hãy chọn bài khác.")
    session.refresh(item)


def _decide(
    session: Session,
    item: ReviewItem,
    review: Review,
    *,
    expected: ReviewStatus,
    settings: Settings,
    now: datetime,
    keep: bool = False,
) -> None:
    """Settle the item: `review`'s grade (or the automatic one, `keep`) becomes final."""
    score, passed = (item.auto_score, item.auto_passed) if keep else (review.score, review.passed)
    _advance(
        session,
        item,
        expected=expected,
        values={
            "status": ReviewStatus.decided,
            "decided_score": score,
            "decided_passed": passed,
            "decided_by_id": review.reviewer_id,
            "decided_at": now,
            "decision_note": review.feedback,
        },
    )
    submission = session.get(Submission, item.submission_id)
    assert submission is not None
    submission.needs_review = False
    changed = not keep and (
        round(float(submission.score or 0), 2) != round(score, 2) or submission.passed != passed
    )
    grader = "admin" if review.role in ("admin", "unit_admin") else "mentor"
    if changed:
        before = {"score": submission.score, "passed": submission.passed}
        submission.score, submission.passed = score, passed
        submission.result = {
            "criteria": review.criteria,
            "feedback": review.feedback,
            "review": {"item": item.id, "kind": item.kind.value},
        }
        submission.grader, submission.graded_at, submission.provisional = grader, now, False
        session.add(
            GradeRecord(
                submission_id=submission.id,
                attempt=submission.attempts,
                grader=grader,
                model=None,
                score=score,
                passed=passed,
                confidence=1.0,
                provisional=False,
                result={**submission.result, "reviewer": review.reviewer_id},
            )
        )
        session.flush()
        progress.record_grade(
            session,
            user_id=submission.user_id,
            lesson_id=submission.lesson_id,
            kind=submission.kind,
            score=score,
            passed=passed,
            submission_id=submission.id,
            ref=f"review{item.id}",
            settings=settings,
            now=now,
        )
        record_audit(
            session,
            actor_id=review.reviewer_id,
            action="grade.change",
            target_type="submission",
            target_id=submission.id,
            unit_path=item.unit_path,
            details={
                "before": before,
                "after": {"score": score, "passed": passed},
                "reason": REASONS[item.kind],
                "item": item.id,
                "feedback": review.feedback,
            },
        )
    session.flush()
    _credit(session, item, settings=settings, now=now)
    lesson_title = session.scalar(select(Lesson.title).where(Lesson.id == submission.lesson_id))
    if changed:
        title = f"Điểm bài “{lesson_title}” đã được xem lại: {score:.0f}/100"
    else:
        title = f"Bài “{lesson_title}” đã được xem lại: giữ nguyên {score:.0f}/100"
    notify(
        session,
        user_id=submission.user_id,
        kind="appeal_result" if item.kind == ReviewKind.appeal else "review",
        title=title,
        body=review.feedback,
        link=f"/lessons/{submission.lesson_id}#{submission.kind.value}",
    )


REASONS = {
    ReviewKind.flagged: "Bài được hệ thống chấm đánh dấu cần người xem lại",
    ReviewKind.appeal: "Học viên khiếu nại điểm",
    ReviewKind.sample: "Kiểm tra ngẫu nhiên chất lượng chấm",
}


def _credit(session: Session, item: ReviewItem, *, settings: Settings, now: datetime) -> None:
    """Calibration: each mentor review that agrees with the decision earns its points,
    once (the key is the review's). Admins' reviews earn nothing."""
    assert item.decided_score is not None and item.decided_passed is not None
    day = local_day(now, settings.tz)
    for review in session.scalars(select(Review).where(Review.item_id == item.id)):
        review.agrees = _agrees(
            review.score,
            review.passed,
            item.decided_score,
            item.decided_passed,
            settings.review_agreement,
        )
        if review.agrees and review.role == Role.mentor.value:
            ledger.award(
                session,
                user_id=review.reviewer_id,
                kind="mentor_review",
                points=settings.points_mentor_review,
                key=f"mentor_review:{review.id}",
                day=day,
                settings=settings,
                details={"item": item.id, "submission": item.submission_id},
            )
    session.flush()


def reviewed_by(
    session: Session, user_id: int, *, limit: int = 20
) -> list[tuple[Review, ReviewItem]]:
    """A mentor's recent reviews, with how each item ended."""
    rows = session.execute(
        select(Review, ReviewItem)
        .join(ReviewItem, ReviewItem.id == Review.item_id)
        .where(Review.reviewer_id == user_id)
        .order_by(Review.id.desc())
        .limit(limit)
    )
    return [(r, i) for r, i in rows]


def counts(session: Session, *, under_path: str) -> dict[str, int]:
    """Waiting and decided items in a subtree (the admin's view of the queue)."""
    rows = session.execute(
        select(ReviewItem.status, func.count())
        .where(ReviewItem.unit_path.startswith(under_path, autoescape=True))
        .group_by(ReviewItem.status)
    )
    return {status.value: int(n) for status, n in rows}
