"""Who mentors which level. A learner may mentor a level once they completed it with a high
average and a steady streak (settings `mentor_min_average`, `mentor_min_streak`: the
longest streak, so a holiday does not cost the right). They apply; a unit admin over their
unit confirms (or confirmation is automatic with `mentor_auto_confirm`). Mentors step
down; admins remove. The account's role follows: `mentor` while any mentorship is active,
`learner` again when none is (admins keep their role)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.audit import record_audit
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.gamification import streaks
from app.learning.progress import lessons_needed, level_standing
from app.models import LEARNER_ROLES, Level, Mentorship, MentorStatus, Role, Unit, User
from app.notifications.service import notify
from app.privacy.anonymous import refuse_anonymised

OPEN = (MentorStatus.pending, MentorStatus.active)


@dataclass(frozen=True)
class Standing:
    """Where a learner stands toward mentoring one level."""

    level_number: int
    level_title: str
    completed: bool
    average: float
    longest_streak: int
    eligible: bool
    status: MentorStatus | None  # of their mentorship for the level, if any
    missing: tuple[str, ...]


def standing(session: Session, user: User, level: Level, settings: Settings) -> Standing:
    done, average = level_standing(session, user.id, level.number)
    needed = lessons_needed(session, level)
    completed = needed > 0 and done >= needed
    longest = streaks.stats_for(session, user.id).longest_streak
    missing = []
    if not completed:
        missing.append(f"Hoàn thành Bậc {level.number} (còn {max(needed - done, 0)} bài).")
    if average < settings.mentor_min_average:
        missing.append(
            f"Điểm trung bình thử thách của bậc từ {settings.mentor_min_average:.0f}/100 "
            f"(hiện {average:.0f})."
        )
    if longest < settings.mentor_min_streak:
        missing.append(
            f"Học liền ít nhất {settings.mentor_min_streak} ngày (chuỗi dài nhất: {longest})."
        )
    row = session.scalar(
        select(Mentorship).where(
            Mentorship.user_id == user.id, Mentorship.level_number == level.number
        )
    )
    return Standing(
        level_number=level.number,
        level_title=level.title,
        completed=completed,
        average=round(average, 1),
        longest_streak=longest,
        eligible=user.role in LEARNER_ROLES and not missing,
        status=row.status if row else None,
        missing=tuple(missing),
    )


def standings(session: Session, user: User, settings: Settings) -> list[Standing]:
    levels = session.scalars(
        select(Level).where(Level.is_active.is_(True)).order_by(Level.number)
    ).all()
    return [standing(session, user, level, settings) for level in levels]


def invitations(session: Session, user: User, settings: Settings) -> list[Standing]:
    """Levels the learner may mentor and has not applied for (the home page invites, on
    every visit: most learners are answered from their stats row alone, with no level
    completed or too short a streak)."""
    if user.role not in LEARNER_ROLES:
        return []
    stats = streaks.stats_for(session, user.id)
    if stats.longest_streak < settings.mentor_min_streak:
        return []
    applied = set(
        session.scalars(select(Mentorship.level_number).where(Mentorship.user_id == user.id))
    )
    # completing a level moves the learner on, except past the top one
    levels = session.scalars(
        select(Level)
        .where(
            Level.is_active.is_(True),
            Level.number.not_in(applied),
            (Level.number < stats.level)
            | (Level.number == select(func.max(Level.number)).scalar_subquery()),
        )
        .order_by(Level.number)
    ).all()
    found = (standing(session, user, level, settings) for level in levels)
    return [s for s in found if s.eligible and s.status is None]


def active_levels(session: Session, user_id: int) -> frozenset[int]:
    """The levels this person mentors now."""
    return frozenset(
        session.scalars(
            select(Mentorship.level_number).where(
                Mentorship.user_id == user_id, Mentorship.status == MentorStatus.active
            )
        )
    )


def _sync_role(session: Session, user: User) -> None:
    if user.role not in LEARNER_ROLES:
        return
    user.role = Role.mentor if active_levels(session, user.id) else Role.learner
    session.flush()


def apply(
    session: Session, *, user: User, level_number: int, settings: Settings, now: datetime
) -> Mentorship:
    """Ask to mentor a level (again, after stepping down or being turned down)."""
    level = session.get(Level, level_number)
    if level is None or not level.is_active:
        raise NotFound("Không tìm thấy bậc học này.")
    found = standing(session, user, level, settings)
    if found.status in OPEN:
        raise Conflict("Bạn đã đăng ký hướng dẫn bậc này.")
    if found.status == MentorStatus.removed:
        raise Forbidden("Quản trị viên đã gỡ bạn khỏi vai trò hướng dẫn bậc này.")
    if not found.eligible:
        raise Forbidden("Bạn chưa đủ điều kiện hướng dẫn bậc này: " + " ".join(found.missing))
    row = session.scalar(
        select(Mentorship).where(
            Mentorship.user_id == user.id, Mentorship.level_number == level_number
        )
    )
    unit_path = session.scalar(select(Unit.path).where(Unit.id == user.unit_id)) or ""
    if row is None:
        row = Mentorship(user_id=user.id, level_number=level_number, unit_path=unit_path)
        session.add(row)
    row.unit_path = unit_path
    row.status = MentorStatus.pending
    row.decided_by_id, row.decided_at, row.reason = None, None, ""
    session.flush()
    record_audit(
        session,
        actor_id=user.id,
        action="mentor.apply",
        target_type="mentorship",
        target_id=row.id,
        unit_path=unit_path,
        details={"level": level_number},
    )
    if settings.mentor_auto_confirm:
        decide(session, row=row, actor_id=None, confirm=True, reason="", now=now)
    return row


def decide(
    session: Session,
    *,
    row: Mentorship,
    actor_id: int | None,
    confirm: bool,
    reason: str,
    now: datetime,
) -> Mentorship:
    """Confirm or turn down an application (the caller checked the actor's scope)."""
    if row.status != MentorStatus.pending:
        raise Conflict("Đơn đăng ký này đã được xử lý.")
    applicant = session.get(User, row.user_id)
    assert applicant is not None
    refuse_anonymised(applicant)
    _settle(
        session,
        row,
        MentorStatus.active if confirm else MentorStatus.rejected,
        actor_id=actor_id,
        action="mentor.confirm" if confirm else "mentor.reject",
        reason=reason,
        now=now,
    )
    notify(
        session,
        user_id=row.user_id,
        kind="mentor_confirmed" if confirm else "mentor_rejected",
        title=(
            f"Bạn đã trở thành người hướng dẫn Bậc {row.level_number}"
            if confirm
            else f"Đơn hướng dẫn Bậc {row.level_number} chưa được xác nhận"
        ),
        body=reason,
        link="/mentor" if confirm else "/mentor/levels",
    )
    return row


def _settle(
    session: Session,
    row: Mentorship,
    status: MentorStatus,
    *,
    actor_id: int | None,
    action: str,
    reason: str,
    now: datetime,
) -> None:
    """A mentorship's new status, who decided and why; the account's role follows; audited."""
    row.status = status
    row.decided_by_id, row.decided_at, row.reason = actor_id, now, reason
    user = session.get(User, row.user_id)
    assert user is not None
    _sync_role(session, user)
    record_audit(
        session,
        actor_id=actor_id,
        action=action,
        target_type="mentorship",
        target_id=row.id,
        unit_path=row.unit_path,
        details={"level": row.level_number, "reason": reason},
    )


def end(
    session: Session,
    *,
    row: Mentorship,
    actor_id: int,
    by_admin: bool,
    reason: str,
    now: datetime,
) -> Mentorship:
    """A mentor steps down, or an admin removes them (a pending application is withdrawn
    the same way)."""
    if row.status not in OPEN:
        raise Conflict("Vai trò hướng dẫn này đã kết thúc.")
    _settle(
        session,
        row,
        MentorStatus.removed if by_admin else MentorStatus.stepped_down,
        actor_id=actor_id,
        action="mentor.remove" if by_admin else "mentor.step_down",
        reason=reason,
        now=now,
    )
    if by_admin:
        notify(
            session,
            user_id=row.user_id,
            kind="mentor_removed",
            title=f"Bạn không còn là người hướng dẫn Bậc {row.level_number}",
            body=reason,
            link="/mentor/levels",
        )
    return row


ADMIN_ACTIONS = ("confirm", "reject", "remove")
REMOVE_REASON_MIN = 5


def act(
    session: Session, *, row: Mentorship, actor_id: int, action: str, reason: str, now: datetime
) -> Mentorship:
    """An admin's action on a mentorship (the caller checked the actor's scope): confirm or
    turn down an application, or remove a mentor (with a reason)."""
    text = reason.strip()[:300]
    if action == "remove":
        if len(text) < REMOVE_REASON_MIN:
            raise Invalid(
                f"Hãy ghi lý do gỡ người hướng dẫn (ít nhất {REMOVE_REASON_MIN} ký tự).",
                extra={"field": "reason"},
            )
        return end(session, row=row, actor_id=actor_id, by_admin=True, reason=text, now=now)
    if action not in ADMIN_ACTIONS:
        raise NotFound("Không có thao tác này.")
    return decide(
        session, row=row, actor_id=actor_id, confirm=action == "confirm", reason=text, now=now
    )


def listing(
    session: Session, *, under_path: str, status: MentorStatus | None = None, limit: int = 500
) -> list[tuple[Mentorship, User]]:
    """Mentorships of people in a subtree (an admin's page), newest first."""
    query = (
        select(Mentorship, User)
        .join(User, User.id == Mentorship.user_id)
        .where(Mentorship.unit_path.startswith(under_path, autoescape=True))
    )
    if status is not None:
        query = query.where(Mentorship.status == status)
    return [
        (m, u)
        for m, u in session.execute(query.order_by(Mentorship.updated_at.desc()).limit(limit))
    ]


def active_count_by_unit(session: Session, *, under_path: str) -> dict[str, int]:
    """Active mentors per unit path in a subtree: people with an active mentorship, each
    counted once, at their own unit now (as the report rollups count them). The
    mentorships are few: their accounts are looked up by id, so the users are never
    scanned."""
    ids = sorted(
        set(
            session.scalars(
                select(Mentorship.user_id).where(Mentorship.status == MentorStatus.active)
            )
        )
    )
    counts: dict[str, int] = defaultdict(int)
    for i in range(0, len(ids), 20_000):  # the ids written into the statement, not bound
        chunk = bindparam("ids", ids[i : i + 20_000], expanding=True, literal_execute=True)
        for path, n in session.execute(
            select(Unit.path, func.count())
            .select_from(User)
            .join(Unit, Unit.id == User.unit_id)
            .where(
                User.id.in_(chunk),
                User.is_active.is_(True),
                User.role.in_(LEARNER_ROLES),
                Unit.path.startswith(under_path, autoescape=True),
            )
            .group_by(Unit.path)
        ):
            counts[path] += n
    return dict(counts)
