"""Accounts and sign-in: registration, sessions, token refresh and revocation, passwords."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.errors import AppError, Conflict, Invalid, TooManyRequests, Unauthorized
from app.core.ratelimit import RateLimiter, Verdict, wait_message
from app.core.security import (
    TokenError,
    hash_password,
    make_token,
    new_uuid,
    password_needs_rehash,
    random_token,
    read_token,
    sha256_hex,
    verify_password,
)
from app.core.validation import check_password_strength, identifier_kind
from app.models import AuthSession, LearnerGroup, PasswordResetToken, Role, Unit, User, utcnow

REFRESH_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """The signed-in account behind a request, its session and its unit's tree path."""

    user: User
    auth: AuthSession
    unit_path: str


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    refresh_max_age: int
    must_change_password: bool


def _password_ok(password: str, *, phone: str | None, email: str | None) -> None:
    try:
        check_password_strength(password, login_names=tuple(x for x in (phone, email) if x))
    except ValueError as exc:
        raise Invalid(str(exc), extra={"field": "password"}) from exc


def ensure_contact_free(
    session: Session, *, phone: str | None, email: str | None, exclude_id: int | None = None
) -> None:
    for column, value, label in (
        (User.phone, phone, "Số điện thoại"),
        (User.email, email, "Thư điện tử"),
    ):
        if not value:
            continue
        stmt = select(User.id).where(column == value)
        if exclude_id is not None:
            stmt = stmt.where(User.id != exclude_id)
        if session.scalar(stmt) is not None:
            raise Conflict(f"{label} này đã được dùng cho một tài khoản khác.", code="duplicate")


def get_active_unit(session: Session, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None or not unit.is_active:
        raise Invalid("Đơn vị đã chọn không tồn tại.", extra={"field": "unit_id"})
    return unit


def get_active_group(session: Session, group_id: int | None) -> LearnerGroup | None:
    if group_id is None:
        return None
    group = session.get(LearnerGroup, group_id)
    if group is None or not group.is_active:
        raise Invalid("Nhóm học viên đã chọn không tồn tại.", extra={"field": "group_id"})
    return group


def create_user(
    session: Session,
    *,
    full_name: str,
    phone: str | None,
    email: str | None,
    password: str,
    unit_id: int,
    group_id: int | None,
    role: Role = Role.learner,
    must_change_password: bool = False,
    check_strength: bool = True,
) -> User:
    if not phone and not email:
        raise Invalid("Cần có số điện thoại hoặc thư điện tử.")
    get_active_unit(session, unit_id)
    get_active_group(session, group_id)
    if check_strength:  # before the contact is looked up: a weak password tells nothing
        _password_ok(password, phone=phone, email=email)
    ensure_contact_free(session, phone=phone, email=email)
    user = User(
        full_name=full_name,
        phone=phone,
        email=email,
        password_hash=hash_password(password),
        role=role,
        unit_id=unit_id,
        group_id=group_id,
        must_change_password=must_change_password,
    )
    try:
        with session.begin_nested():  # a parallel request may have taken the contact
            session.add(user)
    except IntegrityError:
        raise Conflict(
            "Số điện thoại hoặc thư điện tử này đã được dùng cho một tài khoản khác.",
            code="duplicate",
        ) from None
    return user


# Registration cannot succeed for a phone number or e-mail that is taken, so what it
# answers then necessarily differs from a success; it does not say more than that, and
# the limits below bound how many numbers one address can try (docs/auth.md).
REGISTRATION_REFUSED = (
    "Không đăng ký được bằng số điện thoại hoặc thư điện tử này. Nếu bạn đã có tài khoản, "
    "hãy đăng nhập; nếu quên mật khẩu, hãy nhờ quản trị đơn vị cấp liên kết đặt lại mật khẩu."
)


def register(
    session: Session,
    *,
    full_name: str,
    phone: str | None,
    email: str | None,
    password: str,
    unit_id: int,
    group_id: int | None,
    client_ip: str,
    limiter: RateLimiter,
    settings: Settings,
) -> User:
    """A person signs up (the JSON API and the page alike), under two limits per
    `register_window_seconds`: every attempt from one client address counts
    (`register_max_per_address`), and the accounts created in one unit
    (`register_max_per_unit`; a refused attempt is taken back)."""
    window = settings.register_window_seconds
    address = limiter.hit(f"register:ip:{client_ip}", settings.register_max_per_address, window)
    if not address.allowed:
        raise _too_many(address, "Có quá nhiều lượt đăng ký từ cùng một mạng.")
    unit = get_active_unit(session, unit_id)
    unit_key = f"register:unit:{unit.id}"
    in_unit = limiter.hit(unit_key, settings.register_max_per_unit, window)
    if not in_unit.allowed:
        raise _too_many(
            in_unit,
            "Đơn vị này vừa có quá nhiều tài khoản mới đăng ký; quản trị đơn vị có thể tạo "
            "tài khoản giúp bạn.",
        )
    try:
        return create_user(
            session,
            full_name=full_name,
            phone=phone,
            email=email,
            password=password,
            unit_id=unit.id,
            group_id=group_id,
        )
    except AppError as exc:
        limiter.undo(unit_key)
        if exc.code == "duplicate":
            raise Conflict(REGISTRATION_REFUSED, code="registration_refused") from None
        raise


def find_user_by_identifier(session: Session, identifier: str) -> User | None:
    try:
        kind, value = identifier_kind(identifier)
    except ValueError:
        return None
    column = User.email if kind == "email" else User.phone
    return session.scalar(select(User).where(column == value))


def _account_key(identifier: str) -> str:
    try:
        kind, value = identifier_kind(identifier)
        return f"login:acct:{kind}:{value}"
    except ValueError:
        return "login:acct:raw:" + sha256_hex(identifier.strip().lower())[:32]


def _too_many(verdict: Verdict, message: str) -> TooManyRequests:
    return TooManyRequests(
        f"{message} Vui lòng thử lại sau {wait_message(verdict.retry_after)}.",
        headers={"Retry-After": str(verdict.retry_after)},
    )


def authenticate(
    session: Session,
    *,
    identifier: str,
    password: str,
    client_ip: str,
    limiter: RateLimiter,
    settings: Settings,
) -> User:
    """Check the credentials under the per-account and per-address limits.

    Every attempt is counted before the password is checked (an atomic increment), so
    parallel requests cannot slip past the limit between a check and a count: at most
    `login_max_per_account` wrong passwords are verified per account and window, and
    `login_max_per_address` per address. An attempt whose password is right is taken back
    from both counters; the wrong ones before it stay counted until the window ends (an
    owner's sign-in gives nobody fresh guesses). docs/auth.md."""
    window = settings.login_window_seconds
    acct_key = _account_key(identifier)
    ip_key = f"login:ip:{client_ip}"
    message = "Bạn đã đăng nhập sai quá nhiều lần."
    acct = limiter.hit(acct_key, settings.login_max_per_account, window)
    if not acct.allowed:
        raise _too_many(acct, message)
    address = limiter.hit(ip_key, settings.login_max_per_address, window)
    if not address.allowed:
        limiter.undo(acct_key)  # refused before the account was tried
        raise _too_many(address, message)
    user = find_user_by_identifier(session, identifier)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None:
        raise Unauthorized(
            "Số điện thoại/thư điện tử hoặc mật khẩu không đúng.", code="bad_credentials"
        )
    limiter.undo(acct_key)
    limiter.undo(ip_key)
    if not user.is_active:
        raise Unauthorized(
            "Tài khoản đã bị khóa. Hãy liên hệ quản trị đơn vị của bạn.", code="inactive"
        )
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def _issue(
    settings: Settings, *, user: User, session_id: str, refresh_jti: str, now: datetime
) -> IssuedTokens:
    user_id = user.id
    access_life = timedelta(minutes=settings.access_token_minutes)
    refresh_life = timedelta(days=settings.refresh_token_days)
    access, _ = make_token(
        secret=settings.secret_key,
        user_id=user_id,
        session_id=session_id,
        token_type="access",
        lifetime=access_life,
        now=now,
    )
    refresh, _ = make_token(
        secret=settings.secret_key,
        user_id=user_id,
        session_id=session_id,
        token_type="refresh",
        lifetime=refresh_life,
        jti=refresh_jti,
        now=now,
    )
    return IssuedTokens(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(access_life.total_seconds()),
        session_id=session_id,
        refresh_max_age=int(refresh_life.total_seconds()),
        must_change_password=user.must_change_password,
    )


def start_session(
    session: Session, *, user: User, settings: Settings, user_agent: str = ""
) -> IssuedTokens:
    now = utcnow()
    auth = AuthSession(
        id=new_uuid(),
        user_id=user.id,
        refresh_jti=new_uuid(),
        expires_at=now + timedelta(days=settings.refresh_token_days),
        user_agent=user_agent[:200],
    )
    session.add(auth)
    session.flush()
    return _issue(settings, user=user, session_id=auth.id, refresh_jti=auth.refresh_jti, now=now)


def _live_session(session: Session, session_id: str, user_id: int) -> Principal:
    row = session.execute(
        select(User, AuthSession, Unit.path)
        .join(AuthSession, AuthSession.user_id == User.id)
        .join(Unit, Unit.id == User.unit_id)
        .where(AuthSession.id == session_id, User.id == user_id)
    ).first()
    if row is None:
        raise Unauthorized("Phiên đăng nhập không còn hiệu lực.", code="session_revoked")
    user, auth, unit_path = row
    if auth.revoked_at is not None or auth.expires_at <= utcnow():
        raise Unauthorized(
            "Phiên đăng nhập đã kết thúc. Vui lòng đăng nhập lại.", code="session_revoked"
        )
    if not user.is_active:
        raise Unauthorized("Tài khoản đã bị khóa.", code="inactive")
    return Principal(user=user, auth=auth, unit_path=unit_path)


def resolve_access_token(session: Session, *, token: str, settings: Settings) -> Principal:
    try:
        claims = read_token(token, secret=settings.secret_key, expected_type="access")
    except TokenError as exc:
        raise Unauthorized(
            str(exc), code="token_expired" if exc.expired else "token_invalid"
        ) from exc
    return _live_session(session, claims.session_id, claims.user_id)


def refresh_session(session: Session, *, token: str, settings: Settings) -> IssuedTokens:
    """Rotate the refresh token. A replayed (older) refresh token revokes the whole session."""
    try:
        claims = read_token(token, secret=settings.secret_key, expected_type="refresh")
    except TokenError as exc:
        raise Unauthorized(
            str(exc), code="token_expired" if exc.expired else "token_invalid"
        ) from exc
    principal = _live_session(session, claims.session_id, claims.user_id)
    user, auth = principal.user, principal.auth
    now = utcnow()
    if (
        claims.jti == auth.previous_refresh_jti
        and auth.rotated_at is not None
        and now - auth.rotated_at <= REFRESH_GRACE
    ):
        # Two requests raced with the same cookie, or a reply was lost on a weak connection.
        return _issue(
            settings, user=user, session_id=auth.id, refresh_jti=auth.refresh_jti, now=now
        )
    if claims.jti != auth.refresh_jti:
        auth.revoked_at = now
        session.flush()
        raise Unauthorized(
            "Mã làm mới đã được dùng trước đó; phiên đã bị hủy để bảo vệ tài khoản.",
            code="refresh_reused",
            keep_changes=True,
        )
    auth.previous_refresh_jti = auth.refresh_jti
    auth.rotated_at = now
    auth.refresh_jti = new_uuid()
    session.flush()
    return _issue(settings, user=user, session_id=auth.id, refresh_jti=auth.refresh_jti, now=now)


def revoke_sessions(
    session: Session, *, user_id: int, except_session_id: str | None = None
) -> None:
    stmt = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if except_session_id is not None:
        stmt = stmt.where(AuthSession.id != except_session_id)
    session.execute(stmt)


def logout(session: Session, *, auth: AuthSession, everywhere: bool = False) -> None:
    if everywhere:
        revoke_sessions(session, user_id=auth.user_id)
    else:
        auth.revoked_at = utcnow()
    session.flush()


def _void_reset_links(session: Session, user_id: int) -> None:
    session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
    )


def _store_password(session: Session, *, user: User, password_hash: str, must_change: bool) -> None:
    """A new password ends every session and voids every outstanding reset link."""
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    user.must_change_password = must_change
    revoke_sessions(session, user_id=user.id)
    _void_reset_links(session, user.id)
    session.flush()


def set_password(session: Session, *, user: User, new_password: str) -> None:
    _password_ok(new_password, phone=user.phone, email=user.email)
    _store_password(
        session, user=user, password_hash=hash_password(new_password), must_change=False
    )


def issue_temporary_password(session: Session, *, user: User) -> str:
    """A random password the person must change at the next sign-in (shown once)."""
    password = temporary_password()
    _store_password(session, user=user, password_hash=hash_password(password), must_change=True)
    return password


def change_password(
    session: Session, *, user: User, current_password: str, new_password: str
) -> None:
    if not verify_password(user.password_hash, current_password):
        raise Invalid("Mật khẩu hiện tại không đúng.", extra={"field": "current_password"})
    if current_password == new_password:
        raise Invalid("Mật khẩu mới phải khác mật khẩu hiện tại.", extra={"field": "new_password"})
    set_password(session, user=user, new_password=new_password)


def temporary_password() -> str:
    """Readable on a slip of paper: no 0/O or 1/l/I."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(10))
        if any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate):
            return candidate


def create_reset_link(
    session: Session, *, user: User, created_by_id: int | None, settings: Settings
) -> str:
    """A one-time token (only its hash is stored); earlier unused links stop working."""
    now = utcnow()
    _void_reset_links(session, user.id)
    token = random_token(24)
    session.add(
        PasswordResetToken(
            user_id=user.id,
            token_hash=sha256_hex(token),
            expires_at=now + timedelta(hours=settings.password_reset_hours),
            created_by_id=created_by_id,
        )
    )
    session.flush()
    return token


def find_reset_token(session: Session, token: str) -> PasswordResetToken:
    row = session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == sha256_hex(token))
    )
    if row is None or row.used_at is not None or row.expires_at <= datetime.now(UTC):
        raise Invalid(
            "Liên kết đặt lại mật khẩu không hợp lệ hoặc đã hết hạn. "
            "Hãy xin quản trị đơn vị một liên kết mới.",
            code="reset_invalid",
        )
    return row


def reset_with_token(session: Session, *, token: str, new_password: str) -> User:
    row = find_reset_token(session, token)
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Invalid("Tài khoản không còn hoạt động.", code="reset_invalid")
    set_password(session, user=user, new_password=new_password)  # marks the link used
    return user
