"""A person on a phone (390×844) registers, signs out, signs in and sees the home page;
an administrator opens the admin pages. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.db import make_engine
from app.migrations import upgrade
from app.models import Role
from app.orgs.service import ensure_default_groups
from tests import factories
from tests.browser import live_server, phone_browser
from tests.dbutil import scratch_database

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory, settings):
    with scratch_database(tmp_path_factory.mktemp("live"), "live") as url:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            ensure_default_groups(session)
            tree = factories.make_tree(session)
            factories.make_user(session, tree.province, role=Role.admin, email="admin@example.vn")
            session.commit()
            info = {
                "province": tree.province.name,
                "ward": tree.ward.name,
                "hamlet": tree.hamlet.name,
            }
        engine.dispose()
        with live_server(settings.model_copy(update={"database_url": url})) as base:
            yield base, info


def shot(page, artifacts, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_register_sign_in_and_home_on_a_phone(site, artifacts):
    base, info = site
    with phone_browser() as context:
        page = context.new_page()
        external = []
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) else None)
        page.goto(base + "/")
        assert page.url.startswith(base + "/login")
        shot(page, artifacts, "01-sign-in")

        page.get_by_role("link", name="Đăng ký học").click()
        page.get_by_role("link", name=info["province"]).click()
        page.get_by_role("link", name=info["ward"]).click()
        page.get_by_role("link", name=info["hamlet"]).click()
        shot(page, artifacts, "02-register-pick-unit")
        page.get_by_label("Họ và tên").fill("Nguyễn Thị Hồng Nhung")
        page.get_by_label("Số điện thoại (hoặc thư điện tử)").fill("0912 000 111")
        page.get_by_label("Bạn là").select_option(
            label="Chủ doanh nghiệp, hợp tác xã, hộ kinh doanh"
        )
        page.get_by_label("Mật khẩu (ít nhất 8 ký tự)").fill("tra-Thai-Nguyen-1")
        page.get_by_label("Nhập lại mật khẩu").fill("tra-Thai-Nguyen-1")
        shot(page, artifacts, "03-register-form")
        page.get_by_role("button", name="Đăng ký").click()
        page.wait_for_url(base + "/?welcome=1")
        assert page.get_by_role("heading", name="Nguyễn Thị Hồng Nhung").is_visible()
        shot(page, artifacts, "04-home-after-register")

        page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
            "link", name="Tài khoản"
        ).click()
        page.get_by_role("button", name="Đăng xuất").click()
        page.wait_for_url(base + "/login")
        page.get_by_label("Số điện thoại hoặc thư điện tử").fill("+84912000111")
        page.get_by_label("Mật khẩu").fill("sai-mat-khau")
        page.get_by_role("button", name="Đăng nhập").click()
        assert (
            page.get_by_role("alert")
            .inner_text()
            .startswith("Số điện thoại/thư điện tử hoặc mật khẩu không đúng")
        )
        shot(page, artifacts, "05-sign-in-wrong-password")
        page.get_by_label("Mật khẩu").fill("tra-Thai-Nguyen-1")
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(base + "/")
        assert page.get_by_text(info["hamlet"], exact=True).is_visible()

        page.get_by_role("button", name="Chữ to").click()
        assert "large-text" in (page.locator("html").get_attribute("class") or "")
        shot(page, artifacts, "06-home-large-text")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the page scrolls sideways on a phone"
        assert external == []


def test_tap_targets_are_at_least_48px(site):
    base, _ = site
    with phone_browser() as context:
        page = context.new_page()
        page.goto(base + "/login")
        small = page.evaluate(
            """() => [...document.querySelectorAll('a, button, input, select')]
                 .filter(e => e.offsetParent !== null && e.type !== 'hidden')
                 .map(e => [e.outerHTML.slice(0, 60), e.getBoundingClientRect().height])
                 .filter(([, h]) => h < 48)"""
        )
        inline_links = [s for s in small if s[0].startswith('<a href="/register')]
        assert [s for s in small if s not in inline_links] == []


def test_admin_pages_on_a_phone(site, artifacts):
    base, info = site
    with phone_browser() as context:
        page = context.new_page()
        page.goto(base + "/login")
        page.get_by_label("Số điện thoại hoặc thư điện tử").fill("admin@example.vn")
        page.get_by_label("Mật khẩu").fill(factories.PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(base + "/")
        page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
            "link", name="Quản trị"
        ).click()
        page.wait_for_url(base + "/admin/accounts")
        shot(page, artifacts, "07-admin-accounts")
        page.get_by_role("link", name="Đơn vị").first.click()
        page.get_by_role("link", name=info["province"]).click()
        shot(page, artifacts, "08-admin-units")
        page.get_by_role("link", name="Sửa đơn vị này").click()
        page.get_by_label("Tên đơn vị").fill(info["province"] + " mới")
        page.get_by_role("button", name="Lưu thay đổi").click()
        assert page.get_by_role("status").inner_text() == "Đã lưu."
        shot(page, artifacts, "08b-admin-unit-edit")
        page.get_by_role("link", name="Nhóm học viên").click()
        assert page.get_by_role("textbox", name="Tên nhóm nong_dan").input_value() == "Nông dân"
        shot(page, artifacts, "08c-admin-groups")
        page.get_by_role("link", name="Nhập danh sách").click()
        shot(page, artifacts, "09-admin-imports")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
