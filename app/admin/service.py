"""Account administration inside an administrator's scope, every change audited."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from app.auth import service as auth
from app.auth.scope import is_in_scope, scope_path
from app.auth.service import Principal
from app.config import Settings
from app.core.audit import record_audit, record_changes, values_of
from app.core.errors import Forbidden, Invalid, NotFound
from app.core.text import fold, phone_fragment
from app.gamification.boards import reseat
from app.models import (
    ROLE_LABELS,
    LearnerGroup,
    LearnerStats,
    Level,
    LevelUnlock,
    Role,
    StudyDay,
    Unit,
    User,
    utcnow,
)
from app.orgs.service import in_subtree
from app.privacy.anonymous import refuse_anonymised

MENTOR_ROLE_MESSAGE = (
    "Không giao trực tiếp được vai trò “Người hướng dẫn”: người học trở thành người hướng "
    "dẫn khi đăng ký hướng dẫn một bậc đã học tốt và được quản trị đơn vị xác nhận (mục "
    "“Người hướng dẫn” trong trang quản trị)."
)


def check_role_grant(actor: Principal, role: Role, current: Role | None = None) -> None:
    """Whether `actor` may give `role` to an account whose role is `current` (None: a new
    account). `mentor` comes only from a mentorship (app.mentoring.mentors), never from an
    administrator; an account that is a mentor keeps the role when other fields change."""
    if role == Role.mentor and current != Role.mentor:
        raise Invalid(MENTOR_ROLE_MESSAGE, code="mentor_role", extra={"field": "role"})
    if actor.user.role != Role.admin and role in (Role.admin, Role.unit_admin):
        raise Forbidden(f"Chỉ quản trị hệ thống mới được giao vai trò “{ROLE_LABELS[role]}”.")


def _unit_in_scope(session: Session, actor: Principal, unit_id: int) -> Unit:
    unit = auth.get_active_unit(session, unit_id)
    if not is_in_scope(actor, unit.path):
        raise Forbidden("Đơn vị này nằm ngoài phạm vi quản lý của bạn.")
    return unit


def get_user_in_scope(session: Session, actor: Principal, user_id: int) -> tuple[User, Unit]:
    """The account and its unit, or 404 when it does not exist or lies outside the scope
    (an outsider is not told that the account exists)."""
    row = session.execute(
        select(User, Unit)
        .join(Unit, Unit.id == User.unit_id)
        .where(User.id == user_id, in_subtree(scope_path(actor)))
    ).first()
    if row is None:
        raise NotFound("Không tìm thấy tài khoản.")
    return row[0], row[1]


def _check_may_manage(actor: Principal, target: User) -> None:
    is_other_admin = target.role in (Role.admin, Role.unit_admin) and target.id != actor.user.id
    if actor.user.role != Role.admin and is_other_admin:
        raise Forbidden("Bạn không thể thay đổi tài khoản quản trị khác.")


def account_to_change(
    session: Session, actor: Principal, user_id: int, *, manage: bool = True
) -> tuple[User, Unit]:
    """The account an administrative change is about to touch: inside the scope (404),
    another administrator's only for a system administrator (403, when `manage`), and
    never an anonymised account (409: deletion is final)."""
    user, unit = get_user_in_scope(session, actor, user_id)
    if manage:
        _check_may_manage(actor, user)
    refuse_anonymised(user)
    return user, unit


def user_matches(query: str) -> ColumnElement[bool]:
    """A person typed part of a name (with or without diacritics, any case), an e-mail or a
    phone number in any Vietnamese format."""
    conditions = [
        User.search_key.contains(fold(query), autoescape=True),
        User.email.contains(query.strip().lower(), autoescape=True),
    ]
    fragment = phone_fragment(query)
    if fragment:
        conditions.append(User.phone.contains(fragment, autoescape=True))
    return or_(*conditions)


# Activity filters: days on which the learner studied (a StudyDay that was not only kept by
# a streak freeze), counted back from today in the configured time zone.
ACTIVITY_LABELS = {
    "7d": "Có học trong 7 ngày qua",
    "30d": "Có học trong 30 ngày qua",
    "inactive30": "Không học từ 30 ngày trở lên",
    "never": "Chưa học lần nào",
}


def _studied_since(since: date | None) -> ColumnElement[bool]:
    cond = (StudyDay.user_id == User.id) & StudyDay.frozen.is_(False)
    if since is not None:
        cond = cond & (StudyDay.day >= since)
    return exists().where(cond)


def activity_condition(activity: str, today: date) -> ColumnElement[bool]:
    """`7d` / `30d`: studied on one of the last 7 / 30 days (today included); `inactive30`:
    studied before but not in the last 30 days; `never`: no study day at all."""
    if activity == "7d":
        return _studied_since(today - timedelta(days=6))
    if activity == "30d":
        return _studied_since(today - timedelta(days=29))
    if activity == "inactive30":
        return _studied_since(None) & ~_studied_since(today - timedelta(days=29))
    if activity == "never":
        return ~_studied_since(None)
    raise Invalid("Bộ lọc hoạt động không hợp lệ.")


def list_users(
    session: Session,
    *,
    actor: Principal,
    q: str | None = None,
    unit_id: int | None = None,
    group_id: int | None = None,
    role: Role | None = None,
    active: bool | None = None,
    level: int | None = None,
    activity: str | None = None,
    today: date | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[Sequence[tuple[User, Unit, LearnerGroup | None]], int]:
    """`level` is the level a learner is working on (one who has not started is on level 1);
    `activity` one of ACTIVITY_LABELS, counted back from `today` (a local day)."""
    prefix = scope_path(actor)
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        if unit is None or not unit.path.startswith(prefix):
            raise NotFound("Không tìm thấy đơn vị.")
        prefix = unit.path
    stmt = (
        select(User, Unit, LearnerGroup)
        .join(Unit, Unit.id == User.unit_id)
        .outerjoin(LearnerGroup, LearnerGroup.id == User.group_id)
        .where(in_subtree(prefix))
    )
    if q and q.strip():
        stmt = stmt.where(user_matches(q))
    if group_id is not None:
        stmt = stmt.where(User.group_id == group_id)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if active is not None:
        stmt = stmt.where(User.is_active.is_(active))
    if level is not None:
        current = (
            select(LearnerStats.level).where(LearnerStats.user_id == User.id).scalar_subquery()
        )
        stmt = stmt.where(func.coalesce(current, 1) == level)
    if activity:
        stmt = stmt.where(activity_condition(activity, today or utcnow().date()))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(User.full_name, User.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows], total


def create_account(
    session: Session,
    *,
    actor: Principal,
    full_name: str,
    phone: str | None,
    email: str | None,
    unit_id: int,
    group_id: int | None,
    role: Role,
) -> tuple[User, str]:
    """Create an account with a temporary password the person must change at first sign-in."""
    unit = _unit_in_scope(session, actor, unit_id)
    check_role_grant(actor, role)
    password = auth.temporary_password()
    user = auth.create_user(
        session,
        full_name=full_name,
        phone=phone,
        email=email,
        password=password,
        unit_id=unit.id,
        group_id=group_id,
        role=role,
        must_change_password=True,
        check_strength=False,
    )
    record_audit(
        session,
        actor_id=actor.user.id,
        action="account.create",
        target_type="user",
        target_id=user.id,
        unit_path=unit.path,
        details={"role": role.value},
    )
    return user, password


def update_account(
    session: Session,
    *,
    actor: Principal,
    user_id: int,
    changes: dict[str, object],
) -> User:
    user, unit = account_to_change(session, actor, user_id)
    before = values_of(user, changes)
    if "unit_id" in changes and changes["unit_id"] is not None:
        unit = _unit_in_scope(session, actor, int(changes["unit_id"]))  # type: ignore[arg-type]
    if "group_id" in changes:
        auth.get_active_group(session, changes["group_id"])  # type: ignore[arg-type]
    if changes.get("role") is not None and Role(str(changes["role"])) != user.role:
        if user.id == actor.user.id:
            raise Forbidden("Bạn không thể tự đổi vai trò của chính mình.")
        check_role_grant(actor, Role(str(changes["role"])), user.role)
    if "phone" in changes or "email" in changes:
        phone = changes.get("phone", user.phone)
        email = changes.get("email", user.email)
        if not phone and not email:
            raise Invalid("Tài khoản cần có số điện thoại hoặc thư điện tử.")
        auth.ensure_contact_free(session, phone=phone, email=email, exclude_id=user.id)  # type: ignore[arg-type]
    for key, value in changes.items():
        if key in ("full_name", "unit_id", "role") and value is None:
            continue
        setattr(user, key, value)
    session.flush()
    if {"unit_id", "group_id", "role"} & changes.keys():
        reseat(session, [user.id])
    record_changes(
        session,
        actor_id=actor.user.id,
        action="account.update",
        target_type="user",
        target_id=user.id,
        unit_path=unit.path,
        before=before,
        after=values_of(user, changes),
    )
    return user


def set_active(session: Session, *, actor: Principal, user_id: int, active: bool) -> User:
    user, unit = account_to_change(session, actor, user_id)
    if user.id == actor.user.id and not active:
        raise Forbidden("Bạn không thể tự khóa tài khoản của mình.")
    user.is_active = active
    session.flush()
    reseat(session, [user.id])
    if not active:
        auth.revoke_sessions(session, user_id=user.id)
    session.flush()
    record_audit(
        session,
        actor_id=actor.user.id,
        action="account.activate" if active else "account.deactivate",
        target_type="user",
        target_id=user.id,
        unit_path=unit.path,
    )
    return user


def reset_password(
    session: Session, *, actor: Principal, user_id: int, method: str, settings: Settings
) -> dict[str, object]:
    user, unit = account_to_change(session, actor, user_id)
    if user.id == actor.user.id:
        # the own password changes only with the current one (/account/password): a stolen
        # session must not turn into a password of its own
        raise Forbidden(
            "Bạn không thể tự cấp mật khẩu tạm hay liên kết đặt lại cho chính mình. "
            "Hãy đổi mật khẩu ở trang Đổi mật khẩu (cần mật khẩu hiện tại).",
            code="own_account",
        )
    if method == "temporary":
        password = auth.issue_temporary_password(session, user=user)
        result: dict[str, object] = {"method": "temporary", "temporary_password": password}
    else:
        token = auth.create_reset_link(
            session, user=user, created_by_id=actor.user.id, settings=settings
        )
        result = {
            "method": "link",
            "reset_url": f"{settings.base_url.rstrip('/')}/reset-password/{token}",
            "expires_at": utcnow() + timedelta(hours=settings.password_reset_hours),
        }
    session.flush()
    record_audit(
        session,
        actor_id=actor.user.id,
        action="account.reset_password",
        target_type="user",
        target_id=user.id,
        unit_path=unit.path,
        details={"method": method},
    )
    return result


def unlock_level(session: Session, *, actor: Principal, user_id: int, level_number: int) -> bool:
    """Open a level for a learner before the previous one is done; False when it already
    was open by an administrator."""
    user, unit = account_to_change(session, actor, user_id, manage=False)
    level = session.get(Level, level_number)
    if level is None or not level.is_active:
        raise NotFound(f"Không có bậc {level_number}.")
    if session.get(LevelUnlock, (user.id, level_number)) is not None:
        return False
    session.add(
        LevelUnlock(user_id=user.id, level_number=level_number, unlocked_by_id=actor.user.id)
    )
    session.flush()
    record_audit(
        session,
        actor_id=actor.user.id,
        action="learning.unlock_level",
        target_type="user",
        target_id=user.id,
        unit_path=unit.path,
        details={"level": level_number},
    )
    return True


def learning_levels(session: Session) -> Sequence[Level]:
    return session.scalars(
        select(Level).where(Level.is_active.is_(True)).order_by(Level.number)
    ).all()


def unlocked_levels(session: Session, user_id: int) -> set[int]:
    return set(
        session.scalars(select(LevelUnlock.level_number).where(LevelUnlock.user_id == user_id))
    )
