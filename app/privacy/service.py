"""A learner's own data: the download of everything kept about them, and deletion by
anonymisation (the row stays so every count stays true; what identifies the person goes).

See docs/privacy.md for what is kept, what is removed and why."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, Text, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from app.admin.service import get_user_in_scope
from app.auth.service import Principal, revoke_sessions
from app.certificates.service import PDF_FOLDER, verify_url
from app.config import Settings
from app.core.audit import PERSONAL_KEYS, clean_details, is_code, record_audit
from app.core.errors import Forbidden, Invalid
from app.core.media import media_path
from app.core.ratelimit import RateLimiter, enforce
from app.core.security import verify_password
from app.gamification.boards import reseat
from app.learning.submissions import MEDIA_FOLDER
from app.mentoring import mentors
from app.models import (
    CERTIFICATE_STATUS_LABELS,
    MENTOR_STATUS_LABELS,
    ROLE_LABELS,
    Answer,
    AuditLog,
    AuthSession,
    BoardName,
    Certificate,
    FeaturedTeachBack,
    FinalTestAttempt,
    ImportJob,
    ImportKind,
    LeagueMember,
    LearnerGroup,
    LearnerStats,
    LessonProgress,
    LevelUnlock,
    Mentorship,
    Notification,
    PasswordResetToken,
    PointEvent,
    PointTally,
    PostReport,
    Question,
    QuizAttempt,
    Review,
    ReviewItem,
    ReviewKind,
    Role,
    StudyDay,
    Submission,
    Unit,
    User,
    UserBadge,
    utcnow,
)
from app.privacy.anonymous import (
    UNUSABLE_PASSWORD,
    anonymous_name,
    is_anonymised,
    placeholder_email,
)

EXPORT_FILENAME = "bdhai-du-lieu-cua-toi.json"
EXPORTS_PER_HOUR = 5
DELETION_ATTEMPTS = 5  # per learner in DELETION_WINDOW: the password is checked each time
DELETION_WINDOW = 900

REDACTED = "[đã xoá theo yêu cầu]"
REDACTED_SHA256 = hashlib.sha256(REDACTED.encode()).hexdigest()
# Only these accounts may be anonymised: an administrator's account is the actor of audit
# records and of other people's accounts; its role is changed first (docs/privacy.md).
ANONYMISABLE_ROLES = (Role.learner, Role.mentor)


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---- the download -------------------------------------------------------------------------


def limit_export(limiter: RateLimiter, user_id: int) -> None:
    enforce(
        limiter,
        f"privacy:export:{user_id}",
        limit=EXPORTS_PER_HOUR,
        window=3600,
        message=(
            f"Bạn đã tải dữ liệu {EXPORTS_PER_HOUR} lần trong một giờ. Hãy thử lại sau ít phút."
        ),
    )


def personal_data(session: Session, *, user: User, settings: Settings) -> dict[str, Any]:
    """Everything kept about `user`, as plain JSON values. Never a password hash, a session
    or a reset token."""
    uid = user.id
    unit = session.get(Unit, user.unit_id)
    group = session.get(LearnerGroup, user.group_id) if user.group_id else None
    stats = session.get(LearnerStats, uid)
    total = session.get(PointTally, ("all", uid))

    def rows(model: Any, *order: Any, where: Any = None) -> list[Any]:
        cond = model.user_id == uid if where is None else where
        return list(session.scalars(select(model).where(cond).order_by(*order)))

    submissions = rows(Submission, Submission.id)
    return {
        "about": (
            "Dữ liệu của bạn trên nền tảng Bình dân học AI, tải về lúc "
            f"{utcnow().astimezone(settings.tz).strftime('%H:%M %d/%m/%Y')}."
        ),
        "generated_at": _iso(utcnow()),
        "account": {
            "id": uid,
            "full_name": user.full_name,
            "phone": user.phone,
            "email": user.email,
            "role": user.role.value,
            "role_label": ROLE_LABELS[user.role],
            "board_name": user.board_name.value,
            "unit": {"id": unit.id, "code": unit.code, "name": unit.name} if unit else None,
            "group": {"id": group.id, "code": group.code, "name": group.name} if group else None,
            "is_active": user.is_active,
            "created_at": _iso(user.created_at),
            "last_login_at": _iso(user.last_login_at),
            "password_changed_at": _iso(user.password_changed_at),
        },
        "learning": {
            "lessons": [
                {
                    "lesson_id": p.lesson_id,
                    "quiz_attempts": p.quiz_attempts,
                    "quiz_best": p.quiz_best,
                    "quiz_passed_at": _iso(p.quiz_passed_at),
                    "submissions": p.submissions,
                    "challenge_best": p.challenge_best,
                    "challenge_passed_at": _iso(p.challenge_passed_at),
                    "completed_at": _iso(p.completed_at),
                    "last_activity_at": _iso(p.last_activity_at),
                }
                for p in rows(LessonProgress, LessonProgress.lesson_id)
            ],
            "quiz_attempts": [
                {
                    "id": q.id,
                    "lesson_id": q.lesson_id,
                    "day": _iso(q.day),
                    "answers": q.answers,
                    "correct": q.correct,
                    "percent": q.percent,
                    "passed": q.passed,
                    "submitted_at": _iso(q.submitted_at),
                }
                for q in rows(QuizAttempt, QuizAttempt.id)
            ],
            "final_tests": [
                {
                    "id": f.id,
                    "level": f.level_number,
                    "day": _iso(f.day),
                    "answers": f.answers,
                    "correct": f.correct,
                    "percent": f.percent,
                    "passed": f.passed,
                    "submitted_at": _iso(f.submitted_at),
                }
                for f in rows(FinalTestAttempt, FinalTestAttempt.id)
            ],
            "submissions": [
                {
                    "id": s.id,
                    "lesson_id": s.lesson_id,
                    "kind": s.kind.value,
                    "status": s.status.value,
                    "day": _iso(s.day),
                    "text": s.text,
                    "has_image": s.image_name is not None,
                    "score": s.score,
                    "passed": s.passed,
                    "grade": s.result,
                    "graded_at": _iso(s.graded_at),
                    "share_consent": s.share_consent,
                    "created_at": _iso(s.created_at),
                }
                for s in submissions
            ],
            "appeals": [
                {
                    "submission_id": i.submission_id,
                    "reason": i.reason,
                    "status": i.status.value,
                    "decided_score": i.decided_score,
                    "decided_passed": i.decided_passed,
                    "decision_note": i.decision_note,
                    "created_at": _iso(i.created_at),
                }
                for i in rows(
                    ReviewItem,
                    ReviewItem.id,
                    where=(ReviewItem.learner_id == uid) & (ReviewItem.kind == ReviewKind.appeal),
                )
            ],
            "study_days": [
                {
                    "day": _iso(d.day),
                    "active_seconds": d.active_seconds,
                    "lessons_completed": d.lessons_completed,
                    "goal_met": d.goal_met_at is not None,
                    "frozen": d.frozen,
                }
                for d in rows(StudyDay, StudyDay.day)
            ],
            "levels_unlocked_early": [
                u.level_number for u in rows(LevelUnlock, LevelUnlock.level_number)
            ],
        },
        "points": {
            "total": total.points if total else 0,
            "events": [
                {
                    "day": _iso(e.day),
                    "kind": e.kind,
                    "points": e.points,
                    "lesson_id": e.lesson_id,
                    "created_at": _iso(e.created_at),
                }
                for e in rows(PointEvent, PointEvent.id)
            ],
        },
        "badges": [
            {"code": b.code, "awarded_at": _iso(b.awarded_at)}
            for b in rows(UserBadge, UserBadge.awarded_at)
        ],
        "streak": {
            "current": stats.streak,
            "longest": stats.longest_streak,
            "started": _iso(stats.streak_started),
            "last_counted_day": _iso(stats.last_counted),
            "freezes": stats.freezes,
            "freezes_used": stats.freezes_used,
            "level": stats.level,
            "league_tier": stats.league_tier,
        }
        if stats
        else None,
        "leagues": [
            {
                "week": m.week,
                "final_points": m.final_points,
                "final_rank": m.final_rank,
                "outcome": m.outcome.value if m.outcome else None,
            }
            for m in rows(LeagueMember, LeagueMember.week)
        ],
        "certificates": [
            {
                "serial": c.serial,
                "level": c.level_number,
                "status": c.status.value,
                "status_label": CERTIFICATE_STATUS_LABELS[c.status],
                "holder_name": c.holder_name,
                "issued_at": _iso(c.issued_at),
                "expires_at": _iso(c.expires_at),
                "revoked_at": _iso(c.revoked_at),
                "revoke_reason": c.revoke_reason,
                "verify_url": verify_url(settings, c.serial),
            }
            for c in rows(Certificate, Certificate.level_number, Certificate.id)
        ],
        "mentoring": {
            "mentorships": [
                {
                    "level": m.level_number,
                    "status": m.status.value,
                    "status_label": MENTOR_STATUS_LABELS[m.status],
                    "decided_at": _iso(m.decided_at),
                    "reason": m.reason,
                    "created_at": _iso(m.created_at),
                }
                for m in rows(Mentorship, Mentorship.level_number)
            ],
            "reviews_written": [
                {
                    "item_id": r.item_id,
                    "score": r.score,
                    "passed": r.passed,
                    "feedback": r.feedback,
                    "created_at": _iso(r.created_at),
                }
                for r in rows(Review, Review.id, where=Review.reviewer_id == uid)
            ],
        },
        "questions": [
            {
                "id": q.id,
                "lesson_id": q.lesson_id,
                "body": q.body,
                "hidden": q.hidden,
                "created_at": _iso(q.created_at),
            }
            for q in rows(Question, Question.id)
        ],
        "answers": [
            {
                "id": a.id,
                "question_id": a.question_id,
                "body": a.body,
                "accepted": a.accepted,
                "hidden": a.hidden,
                "created_at": _iso(a.created_at),
            }
            for a in rows(Answer, Answer.id)
        ],
        "reports_filed": [
            {
                "post_type": r.post_type,
                "post_id": r.post_id,
                "reason": r.reason,
                "note": r.note,
                "created_at": _iso(r.created_at),
            }
            for r in rows(PostReport, PostReport.id, where=PostReport.reporter_id == uid)
        ],
        "notifications": [
            {
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "link": n.link,
                "read_at": _iso(n.read_at),
                "created_at": _iso(n.created_at),
            }
            for n in rows(Notification, Notification.id)
        ],
    }


def export_for(
    session: Session, *, principal: Principal, limiter: RateLimiter, settings: Settings
) -> dict[str, Any]:
    """The learner's own data, rate-limited and audited (the audit row says only that it
    happened)."""
    user = principal.user
    limit_export(limiter, user.id)
    data = personal_data(session, user=user, settings=settings)
    record_audit(
        session,
        actor_id=user.id,
        action="privacy.export",
        target_type="user",
        target_id=user.id,
        unit_path=principal.unit_path,
    )
    return data


# ---- deletion by anonymisation -------------------------------------------------------------


@dataclass(frozen=True)
class Anonymised:
    """What one anonymisation changed, as counts (all the audit row holds)."""

    sessions_revoked: int
    submissions: int
    images_deleted: int
    questions: int
    answers: int
    certificates: int
    pdfs_deleted: int
    notifications_deleted: int


def _check_anonymisable(user: User) -> None:
    if user.role not in ANONYMISABLE_ROLES:
        raise Forbidden(
            "Tài khoản quản trị không xoá được theo cách này. Quản trị hệ thống cần đổi vai "
            "trò của tài khoản thành học viên trước.",
            code="admin_account",
        )
    if is_anonymised(user):
        raise Invalid("Tài khoản này đã được xoá thông tin cá nhân.", code="already_anonymised")


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def anonymise(session: Session, *, user: User, settings: Settings) -> Anonymised:
    """Remove what identifies `user`, keeping the rows (and so every count). Files on disk
    go last, once every row has been changed."""
    uid = user.id
    new_name = anonymous_name(uid)
    certs = list(session.scalars(select(Certificate).where(Certificate.user_id == uid)))
    about = _audit_rows_about(session, uid, [c.serial for c in certs])
    old_names = {n for n in {user.full_name, *(c.holder_name for c in certs)} if n}
    contacts = {c for c in (user.phone, user.email) if c}
    for row in about:  # earlier names and contacts, from name corrections and edits
        for key, value in row.details.items():
            if key in PERSONAL_KEYS:
                found = value if isinstance(value, list) else [value]
                bucket = contacts if key in ("phone", "email") else old_names
                bucket.update(v for v in found if isinstance(v, str) and v and v != "None")

    # mentoring ends with the account: an application still waiting is withdrawn and an
    # active mentorship stepped down (the role follows), so no later decision revives it
    for row in session.scalars(
        select(Mentorship).where(Mentorship.user_id == uid, Mentorship.status.in_(mentors.OPEN))
    ):
        mentors.end(session, row=row, actor_id=uid, by_admin=False, reason="", now=utcnow())
    user.full_name = new_name
    user.search_key = ""  # after full_name: its validator sets the search key
    user.board_name = BoardName.short
    user.phone = None
    user.email = placeholder_email(uid)
    user.password_hash = UNUSABLE_PASSWORD
    user.password_changed_at = utcnow()
    user.must_change_password = False
    user.is_active = False
    session.flush()
    sessions_revoked = len(
        session.scalars(
            select(AuthSession.id).where(
                AuthSession.user_id == uid, AuthSession.revoked_at.is_(None)
            )
        ).all()
    )
    revoke_sessions(session, user_id=uid)
    session.execute(delete(PasswordResetToken).where(PasswordResetToken.user_id == uid))
    reseat(session, [uid])  # off every board (an inactive account is not listed)

    # what they wrote
    images = list(
        session.scalars(
            select(Submission.image_name).where(
                Submission.user_id == uid, Submission.image_name.is_not(None)
            )
        )
    )
    submission_ids = select(Submission.id).where(Submission.user_id == uid)
    session.execute(
        delete(FeaturedTeachBack).where(FeaturedTeachBack.submission_id.in_(submission_ids))
    )
    submissions = session.execute(
        update(Submission)
        .where(Submission.user_id == uid)
        .values(
            text=REDACTED,
            text_sha256=REDACTED_SHA256,
            fingerprint=None,
            image_name=None,
            share_consent=False,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.learner_id == uid,
            ReviewItem.kind == ReviewKind.appeal,
            ReviewItem.reason != "",
        )
        .values(reason=REDACTED)
        .execution_options(synchronize_session=False)
    )
    questions = session.execute(
        update(Question)
        .where(Question.user_id == uid)
        .values(body=REDACTED)
        .execution_options(synchronize_session=False)
    ).rowcount
    answer_rows = session.execute(
        select(Answer.id, Answer.question_id).where(Answer.user_id == uid)
    ).all()
    session.execute(
        update(Answer)
        .where(Answer.user_id == uid)
        .values(body=REDACTED)
        .execution_options(synchronize_session=False)
    )
    # the askers were sent an excerpt of each answer
    links = [f"/questions/{q}#answer-{a}" for a, q in answer_rows]
    for i in range(0, len(links), 500):
        session.execute(
            update(Notification)
            .where(Notification.kind == "answer", Notification.link.in_(links[i : i + 500]))
            .values(body=REDACTED)
            .execution_options(synchronize_session=False)
        )
    # a mentor's own words when stepping down (reasons decided by administrators stay)
    session.execute(
        update(Mentorship)
        .where(Mentorship.user_id == uid, Mentorship.decided_by_id == uid, Mentorship.reason != "")
        .values(reason=REDACTED)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(PostReport)
        .where(PostReport.reporter_id == uid, PostReport.note != "")
        .values(note="")
        .execution_options(synchronize_session=False)
    )
    notifications = session.execute(
        delete(Notification)
        .where(Notification.user_id == uid)
        .execution_options(synchronize_session=False)
    ).rowcount

    # certificates: the row and its status stay (counts per unit and level); the name goes,
    # and so does the signed credential, which carried it: nothing is signed again for a
    # person who asked to be deleted (docs/privacy.md)
    for cert in certs:
        cert.holder_name = new_name
        cert.credential_jwt = None
        if cert.revoke_reason:
            cert.revoke_reason = _replace_all(cert.revoke_reason, old_names, new_name)
    session.flush()

    # what must remain of them in the audit log and in stored import reports
    scrub = _Scrub(names=old_names, contacts=contacts, new_name=new_name)
    for row in about:
        details = scrub.details(row.action, row.details, authored=row.actor_id == uid)
        if details != row.details:
            row.details = details
    _scrub_import_reports(session, scrub)
    session.flush()

    images_deleted = 0
    for name in images:
        path = media_path(settings.media_dir, MEDIA_FOLDER, name)
        if path is not None and _remove(path):
            images_deleted += 1
    pdfs_deleted = sum(_remove(settings.media_dir / PDF_FOLDER / f"{c.serial}.pdf") for c in certs)
    return Anonymised(
        sessions_revoked=sessions_revoked,
        submissions=submissions,
        images_deleted=images_deleted,
        questions=questions,
        answers=len(answer_rows),
        certificates=len(certs),
        pdfs_deleted=pdfs_deleted,
        notifications_deleted=notifications,
    )


def _replace_all(text: str, olds: set[str], new: str) -> str:
    for old in sorted(olds, key=len, reverse=True):  # "Nguyễn Thị Hồng Nhung" before "Nhung"
        text = text.replace(old, new)
    return text


def _audit_rows_about(session: Session, uid: int, serials: list[str]) -> list[AuditLog]:
    """The audit rows the person wrote or that are about them: their account, their
    certificates, their submissions (appeals, grade changes) and their mentorships."""
    text_id = cast(Submission.id, String(64))
    conditions = [
        AuditLog.actor_id == uid,
        (AuditLog.target_type == "user") & (AuditLog.target_id == str(uid)),
        (AuditLog.target_type == "submission")
        & AuditLog.target_id.in_(select(text_id).where(Submission.user_id == uid)),
        (AuditLog.target_type == "mentorship")
        & AuditLog.target_id.in_(
            select(cast(Mentorship.id, String(64))).where(Mentorship.user_id == uid)
        ),
    ]
    if serials:
        conditions.append((AuditLog.target_type == "certificate") & AuditLog.target_id.in_(serials))
    return list(session.scalars(select(AuditLog).where(or_(*conditions)).order_by(AuditLog.id)))


def _phone_forms(contact: str) -> list[str]:
    """+84912345678 as it may be written: +84912345678, 0912345678, 912345678."""
    if contact.startswith("+84"):
        core = contact[3:]
        return [contact, "0" + core, core]
    return [contact]


@dataclass(frozen=True)
class _Scrub:
    """Replaces a person's names (by the anonymous name) and phone numbers and e-mails (by
    REDACTED) wherever they appear in stored JSON."""

    names: set[str]
    contacts: set[str]
    new_name: str

    @property
    def forms(self) -> set[str]:
        return {f for c in self.contacts for f in _phone_forms(c)}

    def text(self, value: str) -> str:
        if is_code(value):  # a status, a method, a serial: never a name or a contact
            return value
        return _replace_all(_replace_all(value, self.names, self.new_name), self.forms, REDACTED)

    def value(self, value: Any, *, personal: str | None = None) -> Any:
        if isinstance(value, str):
            if personal in ("phone", "email") and value and value != "None":
                return REDACTED
            if personal is not None and value and value != "None":
                return self.new_name
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v, personal=personal) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v, personal=personal) for k, v in value.items()}
        return value

    def details(self, action: str, details: dict[str, Any], *, authored: bool) -> dict[str, Any]:
        """An audit row's details: what the person wrote themselves leaves what the audit
        helper would refuse today (an appeal's words, a step-down reason: older rows), and
        every name and contact of theirs is replaced."""
        if authored:
            details = clean_details(action, details)
        return {
            key: self.value(value, personal=key if key in PERSONAL_KEYS else None)
            for key, value in details.items()
        }


def _scrub_import_reports(session: Session, scrub: _Scrub) -> None:
    """Import reports are kept as their row messages; older versions named a duplicated
    phone number or e-mail in them."""
    needles = {f for f in scrub.forms if f} | {
        form for n in scrub.names for form in (n, json.dumps(n)[1:-1])
    }
    if not needles:
        return
    text = cast(ImportJob.errors, Text)
    jobs = session.scalars(
        select(ImportJob).where(
            ImportJob.kind == ImportKind.learners,
            or_(*(text.contains(n, autoescape=True) for n in sorted(needles))),
        )
    )
    for job in jobs:
        errors = [
            {**e, "message": scrub.text(e["message"])} if isinstance(e.get("message"), str) else e
            for e in job.errors
        ]
        if errors != job.errors:
            job.errors = errors


def _audit(
    session: Session, *, actor_id: int, user: User, unit_path: str, done: Anonymised, by: str
) -> None:
    record_audit(
        session,
        actor_id=actor_id,
        action="privacy.anonymise",
        target_type="user",
        target_id=user.id,
        unit_path=unit_path,
        details={"by": by, **asdict(done)},
    )


def delete_own_account(
    session: Session,
    *,
    principal: Principal,
    password: str,
    limiter: RateLimiter,
    settings: Settings,
) -> Anonymised:
    """The learner's own request, confirmed with their password."""
    user = principal.user
    enforce(
        limiter,
        f"privacy:delete:{user.id}",
        limit=DELETION_ATTEMPTS,
        window=DELETION_WINDOW,
        message="Bạn đã thử quá nhiều lần. Hãy thử lại sau 15 phút.",
    )
    _check_anonymisable(user)
    if not verify_password(user.password_hash, password):
        raise Invalid(
            "Mật khẩu không đúng. Thông tin của bạn chưa bị xoá.",
            code="bad_password",
            extra={"field": "password"},
        )
    done = anonymise(session, user=user, settings=settings)
    _audit(
        session, actor_id=user.id, user=user, unit_path=principal.unit_path, done=done, by="self"
    )
    return done


def anonymise_by_admin(
    session: Session, *, actor: Principal, user_id: int, settings: Settings
) -> tuple[User, Anonymised]:
    """An administrator acting on the person's request: only inside the administrator's
    subtree (404 outside, as for every account), never on an administrator's account."""
    user, unit = get_user_in_scope(session, actor, user_id)
    if user.id == actor.user.id:
        raise Forbidden("Hãy dùng trang “Dữ liệu của tôi” để xoá tài khoản của chính bạn.")
    _check_anonymisable(user)
    done = anonymise(session, user=user, settings=settings)
    _audit(session, actor_id=actor.user.id, user=user, unit_path=unit.path, done=done, by="admin")
    return user, done
