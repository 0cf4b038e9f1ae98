"""Certificates in a real browser at a phone's size: the learner finds their certificate,
downloads the PDF, opens the public verification page the QR code points to (signed out),
and sees a revoked one marked; every page passes axe-core and stays inside the screen at
200% text."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.certificates import service
from app.models import Lesson, User, utcnow
from tests import factories
from tests.browser import WIDE, axe_violations, live_server, phone_browser, seeded_database, sign_in

pytestmark = pytest.mark.browser

ME = "Nguyễn Thị Hồng Nhung"


def complete_level(session: Session, settings, user: User, level: int, score: float) -> None:
    lessons = session.scalars(
        select(Lesson.id).where(Lesson.level_number == level).order_by(Lesson.position)
    ).all()
    for lesson_id in lessons:
        factories.pass_lesson(session, settings, user, lesson_id, score)


@pytest.fixture(scope="module")
def world(tmp_path_factory, settings):
    with (
        seeded_database(tmp_path_factory.mktemp("live"), "certs") as (url, engine),
        live_server(settings.model_copy(update={"database_url": url})) as base,
    ):
        live = settings.model_copy(update={"database_url": url, "base_url": base})
        with Session(engine) as session:
            tree = factories.make_tree(session)
            me = factories.make_user(session, tree.hamlet, name=ME, phone="+84912000401")
            other = factories.make_user(
                session, tree.hamlet, name="Trần Văn Thu Hồi", phone="+84912000402"
            )
            complete_level(session, live, me, 1, 88)
            complete_level(session, live, me, 5, 85)  # level 5 then asks for its final test
            complete_level(session, live, other, 1, 80)
            revoked = service.live_certificate(session, other.id, 1)
            revoked.status = service.CertificateStatus.revoked
            revoked.revoke_reason = "Cấp nhầm người, đã xác minh lại."
            revoked.revoked_at = utcnow()
            session.commit()
            cert = service.live_certificate(session, me.id, 1)
            info = {"me": me.phone, "serial": cert.serial, "revoked": revoked.serial}
        yield base, info


def shot(page, artifacts, name):
    page.screenshot(path=str(artifacts / f"certificates-{name}.png"), full_page=True)


def test_the_learner_downloads_and_anyone_verifies(world, artifacts):
    base, info = world
    with phone_browser() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, info["me"])
        page.goto(base + "/leaderboard")
        page.get_by_role("link", name="Chứng nhận").click()
        page.wait_for_url(base + "/certificates")
        assert page.get_by_role("heading", name="Chứng nhận của tôi").is_visible()
        first = page.locator(".cert").first.inner_text()
        assert "Bậc 1" in first and "Còn hiệu lực" in first and info["serial"] in first
        assert page.get_by_role("heading", name="Chứng nhận tiếp theo").is_visible()
        shot(page, artifacts, "mine")
        with page.expect_download() as download:
            page.get_by_role("link", name="Tải giấy chứng nhận (PDF)").click()
        data = Path(download.value.path()).read_bytes()
        text = unicodedata.normalize(
            "NFC", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
        )
        assert ME in text and info["serial"] in text
        assert errors == []

    with phone_browser() as context:  # signed out: what the QR code opens
        page = context.new_page()
        page.goto(f"{base}/verify/{info['serial']}")
        assert page.get_by_text("Chứng nhận hợp lệ").is_visible()
        facts = page.locator(".facts").inner_text()
        assert ME in facts and "Phường An Bình" in facts
        shot(page, artifacts, "verify")
        page.goto(f"{base}/verify/{info['revoked']}")
        assert page.get_by_text("Chứng nhận đã thu hồi").is_visible()
        assert "Cấp nhầm người" in page.locator(".verdict").inner_text()
        shot(page, artifacts, "verify-revoked")


def test_accessible_and_inside_the_screen_at_200_percent(world, artifacts):
    base, info = world
    axe = Axe()
    with phone_browser() as context:
        page = context.new_page()
        sign_in(page, base, info["me"])
        paths = (
            "/certificates",
            "/levels/5/final-test",
            f"/verify/{info['serial']}",
            f"/verify/{info['revoked']}",
        )
        for path in paths:
            page.goto(base + path, wait_until="networkidle")
            violations = axe_violations(axe, page)
            assert violations == [], (path, violations)
            page.evaluate("document.documentElement.style.fontSize = '200%'")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width, page.evaluate(WIDE))
        shot(page, artifacts, "revoked-200-percent")
        page.goto(base + "/levels/5/final-test")  # the rules: opening it starts nothing
        assert page.locator("fieldset.question").count() == 0
        shot(page, artifacts, "final-test-rules")
        page.get_by_role("button", name="Bắt đầu làm bài").click()
        page.wait_for_url(base + "/levels/5/final-test")
        assert page.locator("fieldset.question").count() == 15
        assert axe_violations(axe, page) == []
        shot(page, artifacts, "final-test")
