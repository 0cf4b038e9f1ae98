"""create_app(): settings, database, routers, middleware and error handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from fastapi import FastAPI, Request, Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles

from app import errors, openapi
from app.admin import exports_pages, oversight_pages
from app.admin import exports_router as admin_exports_router
from app.admin import oversight_router as admin_oversight_router
from app.admin import pages as admin_pages
from app.admin import router as admin_router
from app.auth import pages as auth_pages
from app.auth import router as auth_router
from app.auth.dependencies import (
    CSRF_COOKIE,
    browser_value,
    cookie_name,
    is_api_request,
    new_browser_value,
)
from app.certificates import pages as certificates_pages
from app.certificates import router as certificates_router
from app.config import ROOT_DIR, Settings, get_settings
from app.core.http_limits import RequestGuard
from app.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from app.curriculum import router as curriculum_router
from app.db import make_engine, make_sessionmaker
from app.gamification import pages as gamification_pages
from app.gamification import router as gamification_router
from app.gamification.redis_boards import session_info
from app.gamification.service import store_for
from app.grading.engine import GradingEngine
from app.learning import final_test_pages
from app.learning import pages as learning_pages
from app.learning import router as learning_router
from app.mentoring import community_pages, questions_pages, questions_router
from app.mentoring import community_router as mentoring_community_router
from app.mentoring import pages as mentoring_pages
from app.mentoring import router as mentoring_router
from app.notifications import pages as notifications_pages
from app.notifications import router as notifications_router
from app.orgs import router as orgs_router
from app.privacy import pages as privacy_pages
from app.privacy import router as privacy_router
from app.reports import pages as reports_pages
from app.reports import router as reports_router
from app.system import router as system_router
from app.templating import clear_auth_cookies, set_auth_cookies, set_csrf_cookie

API_PREFIX = "/api/v1"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    # Powerful features off for every page and anything it embeds. The microphone stays
    # available to our own origin only (voice answers on lesson pages are planned; the
    # browser still asks the person first, and CSP lets only our own scripts run).
    "Permissions-Policy": (
        "accelerometer=(), browsing-topics=(), camera=(), display-capture=(), "
        "geolocation=(), gyroscope=(), magnetometer=(), microphone=(self), midi=(), "
        "payment=(), usb=()"
    ),
}
HSTS = "max-age=31536000; includeSubDomains"  # only behind HTTPS (COOKIE_SECURE)
PERSONAL = "private, no-store"


def cache_policy(request: Request, response: Response) -> None:
    """Nothing made for a signed-in person, and no API answer, is kept by a cache unless
    its route says so: API answers to a signed-in principal are always `private, no-store`
    (they carry personal data); other API answers, and pages or files made for a signed-in
    person, are `private, no-store` unless the route chose a policy (a learner's own picture
    is `private, max-age`); anonymous pages are `no-store` (their forms carry a CSRF token).
    Public files (static, /.well-known/jwks.json) keep theirs."""
    signed_in = request.state._state.get("principal") is not None
    current = response.headers.get("cache-control")
    if is_api_request(request) and signed_in:
        if "no-store" not in (current or ""):
            response.headers["Cache-Control"] = PERSONAL
    elif current is None:
        if signed_in or is_api_request(request):
            response.headers["Cache-Control"] = PERSONAL
        elif "text/html" in response.headers.get("content-type", ""):
            response.headers["Cache-Control"] = "no-store"


def make_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url:
        return RedisRateLimiter(redis.Redis.from_url(settings.redis_url))
    return MemoryRateLimiter()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the grading engine: the worker itself in the embedded default, only the
    producer side when `bdhai worker` processes grade (GRADING_WORKER=external)."""
    settings: Settings = app.state.settings
    mode = settings.worker_mode
    engine = None
    if mode != "off":
        engine = GradingEngine(settings, app.state.sessionmaker, external=mode == "external")
        inprocess = mode == "inprocess"
        await engine.start(consume=inprocess, relay=inprocess)
    app.state.grading = engine
    try:
        yield
    finally:
        app.state.grading = None
        if engine is not None:
            await engine.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=logging.INFO)
    app = FastAPI(
        lifespan=lifespan,
        title="Bình dân học AI",
        version="0.1.0",
        description="Nền tảng học “Bình dân học AI”: 15 phút mỗi ngày, 5 bậc.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.sessionmaker = make_sessionmaker(
        app.state.engine, session_info(settings.redis_url, settings.tz)
    )
    app.state.limiter = make_limiter(settings)
    app.state.boards = store_for(settings)
    app.state.grading = None

    for router in (
        auth_router.router,
        orgs_router.router,
        admin_router.router,
        curriculum_router.router,
        learning_router.router,
        gamification_router.router,
        certificates_router.router,
        mentoring_router.router,
        questions_router.router,
        mentoring_community_router.router,
        notifications_router.router,
        admin_oversight_router.router,
        admin_exports_router.router,
        privacy_router.router,
        reports_router.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(system_router)
    app.include_router(certificates_router.well_known)
    for router in (
        learning_pages.router,
        gamification_pages.router,
        certificates_pages.router,
        final_test_pages.router,
        mentoring_pages.router,
        questions_pages.router,
        community_pages.router,
        notifications_pages.router,
        oversight_pages.router,
        exports_pages.router,
        privacy_pages.router,
        reports_pages.router,
        auth_pages.router,
        admin_pages.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(ROOT_DIR / "static")), name="static")
    errors.install(app)
    openapi.install(app)

    # Innermost: the body size limit on the bytes received, and NUL refused (app.core.http_limits).
    app.add_middleware(
        RequestGuard,
        max_bytes=settings.max_request_bytes,
        max_json_bytes=settings.max_json_bytes,
        respond=errors.refusal_response,
    )

    @app.middleware("http")
    async def cookies_and_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        carried = browser_value(request)
        request.state.csrf_browser = carried or new_browser_value()
        response: Response = await call_next(request)
        state = request.state._state
        if state.get("new_tokens") is not None:  # the same session, renewed
            set_auth_cookies(response, state["new_tokens"], settings, new_session=False)
        elif state.get("clear_auth_cookies"):
            clear_auth_cookies(response, settings)
        csrf_name = cookie_name(CSRF_COOKIE, settings) + "="
        if (
            carried is None
            and state.get("csrf_issued")
            and not any(c.startswith(csrf_name) for c in response.headers.getlist("set-cookie"))
        ):  # the page handed out a token made from a new browser value
            set_csrf_cookie(response, request.state.csrf_browser, settings)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if settings.cookie_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        cache_policy(request, response)
        return response

    app.add_middleware(GZipMiddleware, minimum_size=500)
    return app
