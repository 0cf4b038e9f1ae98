"""A live server on a free port and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.config import ROOT_DIR, Settings
from app.curriculum.loader import sync_curriculum
from app.curriculum.validate import load_curriculum
from app.db import make_engine
from app.main import create_app
from app.migrations import upgrade
from app.orgs.service import ensure_default_groups
from tests.dbutil import scratch_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}


@contextmanager
def seeded_database(tmp_dir: Path, label: str) -> Iterator[tuple[str, Engine]]:
    """A scratch database at head with the default learner groups and the shipped
    curriculum: what every browser suite's world starts from."""
    with scratch_database(tmp_dir, label) as url:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            ensure_default_groups(session)
            sync_curriculum(session, load_curriculum(ROOT_DIR / "curriculum"))
            session.commit()
        try:
            yield url, engine
        finally:
            engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"base_url": base}))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.engine.dispose()


@contextmanager
def phone_browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="vi-VN"
        )
        try:
            yield context
        finally:
            context.close()
            browser.close()


def axe_violations(axe, page) -> list[tuple]:
    """WCAG 2.1 A/AA violations axe-core finds on the page: (rule, impact, first targets)."""
    result = axe.run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]})
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result.response["violations"]
    ]


# What sticks out past a 390 px screen (for an assertion's message).
WIDE = """() => [...document.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > 391 || e.scrollWidth > e.clientWidth + 1)
    .slice(0, 8).map(e => [e.tagName, e.className, e.scrollWidth, e.clientWidth,
       Math.round(e.getBoundingClientRect().right), e.outerHTML.slice(0, 80)])"""

# Controls shorter than a 48 px tap target (links inside running text excepted).
SMALL_TARGETS = """() => [...document.querySelectorAll(
        'main a, main button, main input, main select, main summary, nav a')]
     .filter(e => e.offsetParent !== null && e.type !== 'hidden')
     .filter(e => !e.closest('.prose, p, li'))
     .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height])
     .filter(([, h]) => h < 48)"""


def sign_in(page, base: str, phone: str) -> None:
    from tests import factories

    page.goto(base + "/login")
    page.get_by_label("Số điện thoại hoặc thư điện tử").fill(phone)
    page.get_by_label("Mật khẩu").fill(factories.PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(base + "/")
