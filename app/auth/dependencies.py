"""Who is calling, and whether they may: every route declares exactly one AccessRule.

The JSON API authenticates with `Authorization: Bearer`; pages with HttpOnly cookies that
carry the same tokens (the refresh cookie renews an expired access cookie transparently).
Cookie-authenticated writes must prove they come from our pages (CSRF)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request

from app.auth.service import (
    IssuedTokens,
    Principal,
    refresh_session,
    resolve_access_token,
)
from app.config import Settings
from app.core.errors import Forbidden, Unauthorized
from app.core.ratelimit import RateLimiter
from app.db import SessionDep
from app.models import Role
from app.notifications.service import unread_count

ACCESS_COOKIE = "bdhai_access"
REFRESH_COOKIE = "bdhai_refresh"
CSRF_COOKIE = "bdhai_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


def is_api_request(request: Request) -> bool:
    return request.url.path.startswith("/api/")


class LoginRequired(Unauthorized):
    """Raised for a page that needs a signed-in user: pages redirect to the sign-in form."""


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _check_csrf_header(request: Request) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER, "")
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise Forbidden(
            "Yêu cầu không hợp lệ (thiếu mã chống giả mạo). Hãy tải lại trang.", code="csrf"
        )


def resolve_principal(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Principal | None:
    """The signed-in principal, or None. Cached on the request."""
    if "principal" in request.state._state:
        return request.state.principal
    principal: Principal | None = None
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Tiêu đề Authorization phải có dạng 'Bearer <mã>'.")
        principal = resolve_access_token(session, token=token.strip(), settings=settings)
    else:
        principal = _principal_from_cookies(request, session, settings)
        if principal is not None and is_api_request(request) and request.method not in SAFE_METHODS:
            _check_csrf_header(request)
    request.state.principal = principal
    if principal is not None:
        request.state.viewer = Viewer(
            id=principal.user.id,
            full_name=principal.user.full_name,
            role=principal.user.role,
            must_change_password=principal.user.must_change_password,
            unread=0 if is_api_request(request) else unread_count(session, principal.user.id),
        )
    return principal


@dataclass(frozen=True)
class Viewer:
    """What the page layout shows of the signed-in person: plain values that outlive the
    request's database session (error pages render after it has closed)."""

    id: int
    full_name: str
    role: Role
    must_change_password: bool
    unread: int = 0  # notifications (the bell), counted for pages only

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.admin, Role.unit_admin)

    @property
    def reviews(self) -> bool:
        """Mentors and admins have a review queue."""
        return self.role in (Role.mentor, Role.admin, Role.unit_admin)

    def with_unread(self, unread: int) -> Viewer:
        return replace(self, unread=unread)


def _principal_from_cookies(
    request: Request, session: SessionDep, settings: Settings
) -> Principal | None:
    access = request.cookies.get(ACCESS_COOKIE)
    if access:
        try:
            return resolve_access_token(session, token=access, settings=settings)
        except Unauthorized:
            pass
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not refresh:
        if access:
            request.state.clear_auth_cookies = True
        return None
    try:
        tokens: IssuedTokens = refresh_session(session, token=refresh, settings=settings)
    except Unauthorized:
        request.state.clear_auth_cookies = True
        return None
    request.state.new_tokens = tokens
    return resolve_access_token(session, token=tokens.access_token, settings=settings)


class AccessRule:
    """Base of the dependencies that declare who may call a route."""

    description = ""

    def describe(self) -> str:
        return self.description


class Public(AccessRule):
    """Anyone, signed in or not; gives the principal when there is one."""

    description = "public"

    def __call__(
        self, request: Request, session: SessionDep, settings: SettingsDep
    ) -> Principal | None:
        try:
            return resolve_principal(request, session, settings)
        except Unauthorized:
            if is_api_request(request):
                raise
            return None


class RequireRole(AccessRule):
    """A signed-in, active account with one of `roles` (any role when none are given)."""

    def __init__(self, *roles: Role, allow_password_change: bool = False) -> None:
        self.roles = frozenset(roles)
        self.allow_password_change = allow_password_change
        self.description = "roles:" + (",".join(sorted(self.roles)) if self.roles else "any")

    def __call__(self, request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
        try:
            principal = resolve_principal(request, session, settings)
        except Unauthorized as exc:
            if is_api_request(request):
                raise
            raise LoginRequired(exc.message) from exc
        if principal is None:
            if is_api_request(request):
                raise Unauthorized()
            raise LoginRequired()
        if principal.user.must_change_password and not self.allow_password_change:
            raise PasswordChangeRequired("Bạn cần đổi mật khẩu trước khi tiếp tục.")
        if self.roles and principal.user.role not in self.roles:
            raise Forbidden("Bạn không có quyền thực hiện thao tác này.")
        return principal


ADMIN_ROLES = (Role.admin, Role.unit_admin)

PublicDep = Annotated[Principal | None, Depends(Public())]
SignedIn = Annotated[Principal, Depends(RequireRole())]
SignedInPendingPassword = Annotated[Principal, Depends(RequireRole(allow_password_change=True))]
AdminOrUnitAdmin = Annotated[Principal, Depends(RequireRole(*ADMIN_ROLES))]
AdminOnly = Annotated[Principal, Depends(RequireRole(Role.admin))]


async def csrf_protect(request: Request) -> None:
    """Every form post from a page carries the token from the CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise Forbidden(
            "Biểu mẫu đã hết hạn hoặc không hợp lệ. Hãy tải lại trang và thử lại.", code="csrf"
        )


CsrfProtected = Depends(csrf_protect)
