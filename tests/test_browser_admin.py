"""Administration and reporting in Debian's Chromium at 390×844: a unit administrator
opens the dashboard (SVG charts and tables), downloads the quarterly report, enters a
target population, and goes through the certificates, audit log, exports and mentors
pages; an administrator opens the system page; a learner their data page. Every page
passes axe-core (WCAG 2.1 AA) and stays inside the screen at 200% text (wide tables scroll
inside their own frame). Screenshots go to test-artifacts/admin-*.png."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from app.models import LessonProgress, Role, StudyDay, utcnow
from tests import factories
from tests.browser import WIDE, axe_violations, live_server, phone_browser, seeded_database, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def world(tmp_path_factory, settings):
    with (
        seeded_database(tmp_path_factory.mktemp("live"), "admin") as (url, engine),
        live_server(settings.model_copy(update={"database_url": url})) as base,
    ):
        with Session(engine) as session:
            tree = factories.make_tree(session)
            ward_admin = factories.make_user(
                session,
                tree.ward,
                role=Role.unit_admin,
                name="Quản Trị Phường",
                phone="+84912000601",
            )
            admin = factories.make_user(
                session,
                tree.province,
                role=Role.admin,
                name="Quản Trị Tỉnh",
                phone="+84912000602",
            )
            learner = factories.make_user(
                session, tree.hamlet, name="Lò Thị Mai", phone="+84912000603"
            )
            learner.group_id = factories.group(session).id
            today = utcnow().astimezone(settings.tz).date()
            for back in (0, 1, 8, 15):
                session.add(
                    StudyDay(
                        user_id=learner.id, day=today - timedelta(days=back), active_seconds=600
                    )
                )
            session.add(
                LessonProgress(
                    user_id=learner.id,
                    lesson_id="b1-01-ai-la-gi",
                    last_activity_at=utcnow(),
                    completed_at=utcnow(),
                )
            )
            tree.ward.target_population = 1200
            session.commit()
            info = {
                "unit_admin": ward_admin.phone,
                "admin": admin.phone,
                "learner": learner.phone,
                "hamlet": tree.hamlet.id,
            }
        yield base, info


def shot(page, artifacts, name):
    page.screenshot(path=str(artifacts / f"admin-{name}.png"), full_page=True)


def test_a_unit_admin_reads_the_dashboard_and_files_the_report(world, artifacts):
    base, info = world
    with phone_browser() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, info["unit_admin"])
        page.goto(base + "/admin/dashboard")
        assert page.get_by_role("heading", name="Tổng quan: Phường An Bình").is_visible()
        assert page.locator("svg.chart").count() == 2
        stats = page.locator(".stats").inner_text()
        assert "Đã đăng ký" in stats and "1" in stats
        shot(page, artifacts, "dashboard")
        page.get_by_role("link", name="Tải báo cáo quý").click()
        page.wait_for_url("**/admin/reports?unit_id=*")
        with page.expect_download() as download:
            page.get_by_role("link", name="Tải Excel (XLSX)").first.click()
        book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
        values = {r[0]: r[1] for r in book.active.iter_rows(values_only=True) if r and r[0]}
        assert next(iter(values)).startswith("BÁO CÁO KẾT QUẢ PHONG TRÀO")
        assert values["Học viên đã đăng ký (đến cuối quý)"] == 1
        shot(page, artifacts, "reports")
        page.goto(f"{base}/admin/targets?unit_id={info['hamlet']}")
        page.get_by_label("Người trong độ tuổi lao động (15–60)").fill("300")
        page.get_by_role("button", name="Lưu dân số mục tiêu").click()
        assert page.get_by_text("Đã lưu chỉ tiêu.").is_visible()
        assert page.get_by_label("Người trong độ tuổi lao động (15–60)").input_value() == "300"
        shot(page, artifacts, "targets")
        assert errors == []


def test_accessible_and_inside_the_screen_at_200_percent(world, artifacts):
    base, info = world
    axe = Axe()
    pages = {
        "unit_admin": (
            "/admin/dashboard",
            "/admin/reports",
            "/admin/targets",
            "/admin/certificates",
            "/admin/audit",
            "/admin/exports",
            "/admin/mentors",
            "/admin/accounts",
        ),
        "admin": ("/admin/system", "/admin/targets"),
        "learner": ("/account/data",),
    }
    for who, paths in pages.items():
        with phone_browser() as context:
            page = context.new_page()
            sign_in(page, base, info[who])
            for path in paths:
                page.goto(base + path, wait_until="networkidle")
                assert axe_violations(axe, page) == [], path
                page.evaluate("document.documentElement.style.fontSize = '200%'")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, (path, width, page.evaluate(WIDE))
            shot(page, artifacts, f"{who}-200-percent")
