"""Who is calling, and whether they may: every route declares exactly one AccessRule.

The JSON API authenticates with `Authorization: Bearer`; pages with HttpOnly cookies that
carry the same tokens (the refresh cookie renews an expired access cookie transparently).
Cookie-authenticated writes must prove they come from our pages (CSRF).

CSRF: the CSRF cookie holds a random per-browser value; the token pages put in their forms
and in `<meta name="csrf-token">` is an HMAC (SECRET_KEY) of that value bound to the
signed-in session's id, or to "anonymous" before sign-in. A token therefore only fits the
browser value and the session it was made for: a planted cookie with a field to match, a
token from another session, or one made before sign-in (the sign-in also gives the browser
a new value) are refused. Behind HTTPS every cookie name takes the `__Host-` prefix."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
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
CSRF_COOKIE = "bdhai_csrf"  # the browser's random value, not the token itself
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HOST_PREFIX = "__Host-"
_BROWSER_VALUE = re.compile(r"[A-Za-z0-9_-]{32,64}")
CSRF_REFUSED = "Biểu mẫu đã hết hạn hoặc không hợp lệ. Hãy tải lại trang và thử lại."


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
    """The client's address: the one place the app reads it (rate limits, audit).

    It is the TCP peer, which uvicorn replaces with the `X-Forwarded-For` address only when
    the peer is a trusted proxy (`--proxy-headers`, `FORWARDED_ALLOW_IPS`, loopback unless
    told otherwise; docs/deploy.md). Never read forwarding headers here: anyone can write
    them."""
    return request.client.host if request.client else "unknown"


def cookie_name(name: str, settings: Settings) -> str:
    """`__Host-name` behind HTTPS (COOKIE_SECURE): the browser then accepts the cookie only
    from this host over HTTPS, with `Path=/` and no `Domain`, so neither a sibling domain
    nor a plain-HTTP answer can plant or overwrite it."""
    return HOST_PREFIX + name if settings.cookie_secure else name


def new_browser_value() -> str:
    return secrets.token_urlsafe(24)


def browser_value(request: Request) -> str | None:
    """The CSRF cookie this request carried, when it has the shape we issue."""
    value = request.cookies.get(cookie_name(CSRF_COOKIE, get_app_settings(request)))
    return value if value and _BROWSER_VALUE.fullmatch(value) else None


def csrf_token_for(secret: str, browser: str, session_id: str | None) -> str:
    """The token for a browser value, bound to a session (None: before sign-in)."""
    binding = f"session:{session_id}" if session_id else "anonymous"
    message = f"bdhai-csrf\n{binding}\n{browser}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_token(request: Request) -> str:
    """The token this request's page gives its forms and scripts."""
    state = request.state._state
    state["csrf_issued"] = True
    browser = state.get("csrf_browser") or browser_value(request) or ""
    return csrf_token_for(get_app_settings(request).secret_key, browser, state.get("session_id"))


def csrf_valid(request: Request, sent: str, principal: Principal | None) -> bool:
    """Whether `sent` is the token for the browser value this request carried and the
    session it is signed in with (compared in constant time)."""
    browser = browser_value(request)
    if not browser or not sent:
        return False
    expected = csrf_token_for(
        get_app_settings(request).secret_key, browser, principal.auth.id if principal else None
    )
    return hmac.compare_digest(expected.encode(), sent.encode("utf-8", "replace"))


def _check_csrf_header(request: Request, principal: Principal) -> None:
    if not csrf_valid(request, request.headers.get(CSRF_HEADER, ""), principal):
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
            _check_csrf_header(request, principal)
    request.state.principal = principal
    if principal is not None:
        # a plain value: error pages render (with their token) after the session closed
        request.state.session_id = principal.auth.id
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
    access = request.cookies.get(cookie_name(ACCESS_COOKIE, settings))
    if access:
        try:
            return resolve_access_token(session, token=access, settings=settings)
        except Unauthorized:
            pass
    refresh = request.cookies.get(cookie_name(REFRESH_COOKIE, settings))
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


def _principal_or_none(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Principal | None:
    """The session a form post is bound to (None before sign-in); the route's own access
    rule still decides who may post (resolve_principal caches its answer)."""
    try:
        return resolve_principal(request, session, settings)
    except Unauthorized:
        return None


async def csrf_protect(
    request: Request,
    principal: Annotated[Principal | None, Depends(_principal_or_none)],
) -> None:
    """Every form post from a page carries its page's token (field or X-CSRF-Token)."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    if not csrf_valid(request, sent, principal):
        raise Forbidden(CSRF_REFUSED, code="csrf")


CsrfProtected = Depends(csrf_protect)
