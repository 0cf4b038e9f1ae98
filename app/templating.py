"""Jinja2 set-up and the one way pages render, set cookies and redirect."""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from app.auth.dependencies import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    HOST_PREFIX,
    REFRESH_COOKIE,
    cookie_name,
    csrf_token,
    new_browser_value,
)
from app.auth.service import IssuedTokens
from app.config import Settings
from app.models import ROLE_LABELS, UNIT_TYPE_LABELS, Role

TEXT_SIZE_COOKIE = "bdhai_text"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals.update(ROLE_LABELS=ROLE_LABELS, UNIT_TYPE_LABELS=UNIT_TYPE_LABELS, Role=Role)


def localtime(moment: datetime | None, tz: tzinfo, fmt: str = "%H:%M %d/%m/%Y") -> str:
    """A UTC instant as the learner's local time (Asia/Ho_Chi_Minh by default)."""
    return moment.astimezone(tz).strftime(fmt) if moment else ""


def number(value: int) -> str:
    """An integer the Vietnamese way: 1.234.567."""
    return f"{value:,}".replace(",", ".")


templates.env.filters["localtime"] = localtime
templates.env.filters["number"] = number


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    ctx = {
        "tz": request.app.state.settings.tz,
        "principal": request.state._state.get("principal"),
        "viewer": request.state._state.get("viewer"),
        "csrf_token": csrf_token(request),
        "large_text": request.cookies.get(TEXT_SIZE_COOKIE) == "large",
        **(context or {}),
    }
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths, so `?next=` cannot send anyone elsewhere."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="/")


def set_csrf_cookie(response: Any, value: str, settings: Settings) -> None:
    """The browser's random CSRF value (pages carry the token made from it, not the value:
    app.auth.dependencies). HttpOnly: scripts read the token from the page's meta tag."""
    response.set_cookie(
        cookie_name(CSRF_COOKIE, settings),
        value,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )


def set_auth_cookies(
    response: Any, tokens: IssuedTokens, settings: Settings, *, new_session: bool = True
) -> None:
    """The session's cookies. A new session (sign-in, registration, password change) also
    gives the browser a new CSRF value, so nothing minted before it stays usable; renewing
    the access token of the same session (new_session=False) keeps it."""
    common = {"httponly": True, "samesite": "lax", "secure": settings.cookie_secure, "path": "/"}
    response.set_cookie(
        cookie_name(ACCESS_COOKIE, settings),
        tokens.access_token,
        max_age=tokens.expires_in,
        **common,
    )
    response.set_cookie(
        cookie_name(REFRESH_COOKIE, settings),
        tokens.refresh_token,
        max_age=tokens.refresh_max_age,
        **common,
    )
    if new_session:
        set_csrf_cookie(response, new_browser_value(), settings)


def forget_browser(response: Any) -> None:
    """After signing out or deleting the account: the browser also drops what pages kept
    for this person (drafts in localStorage; phones are shared). Browsers honour the header
    over HTTPS and on localhost; static/js/app.js clears the drafts itself as well."""
    clear_auth_cookies(response)
    response.headers["Clear-Site-Data"] = '"storage"'


def clear_auth_cookies(response: Any, settings: Settings | None = None) -> None:
    """Sign the browser out. Without the settings, both spellings of the names go (the
    `__Host-` ones need `Secure` to be deleted)."""
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        if settings is None or not settings.cookie_secure:
            response.delete_cookie(name, path="/")
        if settings is None or settings.cookie_secure:
            response.delete_cookie(HOST_PREFIX + name, path="/", secure=True)
