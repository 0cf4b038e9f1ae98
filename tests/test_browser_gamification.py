"""Leaderboards, the weekly league, badges and a unit's emulation board in Debian's
Chromium at 390×844: a small world of learners with points in a unit tree, a league with
both zones and a closed week behind it, and earned badges. Tabs are switched by clicking;
every page passes axe-core (WCAG 2.1 AA) and stays inside the screen at 200% text.
Screenshots go to test-artifacts/gamification-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy.orm import Session

from app.core.clock import local_day
from app.gamification import leagues, periods
from app.gamification.ledger import award
from app.gamification.streaks import stats_for
from app.models import utcnow
from tests import factories
from tests.browser import (
    SMALL_TARGETS,
    WIDE,
    axe_violations,
    live_server,
    phone_browser,
    seeded_database,
    sign_in,
)

pytestmark = pytest.mark.browser

ME = "Nguyễn Thị Hồng Nhung"


@pytest.fixture(scope="module")
def world(tmp_path_factory, settings):
    live = settings.model_copy(update={"league_promote": 3, "league_demote": 2})
    today = local_day(utcnow(), live.tz)
    with seeded_database(tmp_path_factory.mktemp("live"), "gamify") as (url, engine):
        with Session(engine) as session:
            tree = factories.make_tree(session)
            tree.ward.target_population = 1200
            tree.commune.target_population = 800
            second = factories.make_unit(
                session, "Tổ dân phố số 2", tree.hamlet.type, parent=tree.ward
            )
            me = factories.make_user(session, tree.hamlet, name=ME, phone="+84912000301")
            me.group_id = factories.group(session).id
            newcomer = factories.make_user(
                session, tree.hamlet, name="Trần Văn Mới", phone="+84912000302"
            )
            people = [
                ("Lò Văn Páo", tree.hamlet, 120),
                ("Hà Thị Mỷ", tree.hamlet, 35),
                ("Đinh Văn Sơn", tree.village, 95),
                ("Vàng Thị Dua", tree.village, 60),
                ("Phạm Minh Châu", second, 150),
                ("Hoàng Quốc Việt", second, 80),
                ("Nông Thị Lan", tree.village, 20),
                ("Lê Thị Bích Ngọc Trâm", second, 45),
                ("Triệu Văn Khánh", tree.hamlet, 10),
            ]
            users = [factories.make_user(session, unit, name=name) for name, unit, _ in people]
            session.flush()
            for user in [me, *users]:
                stats_for(session, user.id).league_tier = 1  # Hạng Bạc: both zones show
            n = 0

            def give(user_id, points, day, kind="quiz_pass", details=None):
                nonlocal n
                n += 1
                award(
                    session,
                    user_id=user_id,
                    kind=kind,
                    points=points,
                    key=f"seed:{n}",
                    day=day,
                    settings=live,
                    details=details,
                )

            # last week: a closed league the learner finished third in (everyone under 60
            # points, so this week's cohort is one activity band)
            last_week = today - timedelta(days=7)
            for user, points in zip(users[:5], (38, 30, 20, 15, 10), strict=True):
                give(user.id, points, last_week)
            give(me.id, 25, last_week)
            leagues.close_week(
                session, week=periods.week_key(last_week), settings=live, now=utcnow()
            )
            for user in [me, *users]:  # back to Bạc for this week's table
                stats_for(session, user.id).league_tier = 1
            # this week
            for user, (_, _, points) in zip(users, people, strict=True):
                give(user.id, points, today)
            give(me.id, 50, today, kind="lesson_complete")
            give(me.id, 30, today, kind="streak_milestone", details={"streak": 7})
            stats = stats_for(session, me.id)
            stats.streak, stats.longest_streak, stats.freezes = 9, 9, 1
            stats.last_counted, stats.settled_through = today, today - timedelta(days=1)
            session.commit()
            info = {
                "me": me.phone,
                "newcomer": newcomer.phone,
                "province": tree.province.id,
                "ward": tree.ward.id,
            }
        with live_server(live.model_copy(update={"database_url": url})) as base:
            yield base, info


def shot(page, artifacts, name):
    page.screenshot(path=str(artifacts / f"gamification-{name}.png"), full_page=True)


def test_leaderboard_league_badges_and_unit_board(world, artifacts):
    base, info = world
    with phone_browser() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, base, info["me"])
        streak = page.locator(".stat.streak")
        assert "9 ngày" in streak.inner_text() and "1/2" in streak.inner_text()
        shot(page, artifacts, "home")

        page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
            "link", name="Xếp hạng"
        ).click()
        page.wait_for_url(base + "/leaderboard")
        assert page.get_by_role("heading", name="Toàn bộ học viên").is_visible()
        me_row = page.locator(".board-row.me")
        assert me_row.count() == 1 and ME in me_row.inner_text()
        names = page.locator(".board-list .who").all_inner_texts()
        assert names[:3] == ["Châu P.", "Páo L.", "Sơn Đ."]  # others: the short form
        assert page.locator(".board-row:not(.me) .unit-line").count() == 0  # no hamlet
        shot(page, artifacts, "leaderboard")

        # how the learner appears to others: the choice, one link away
        page.get_by_role("link", name="Đổi cách hiện tên").click()
        page.wait_for_url(base + "/leaderboard/name")
        assert page.get_by_role("radio", name="Nhung N.").is_checked()
        assert axe_violations(Axe(), page) == []
        shot(page, artifacts, "board-name")
        page.evaluate("document.documentElement.style.fontSize = '200%'")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, artifacts, "board-name-200-percent")
        page.evaluate("document.documentElement.style.fontSize = ''")
        page.get_by_role("radio", name=ME).check()
        page.get_by_role("button", name="Lưu").click()
        page.wait_for_url(base + "/leaderboard/name?done=1")
        assert ME in page.get_by_role("status").inner_text()
        shot(page, artifacts, "board-name-saved")
        page.get_by_role("radio", name="Nhung N.").check()  # back to the default
        page.get_by_role("button", name="Lưu").click()
        page.wait_for_url(base + "/leaderboard/name?done=1")
        page.get_by_role("link", name="Về bảng xếp hạng").click()
        page.wait_for_url(base + "/leaderboard")

        page.get_by_role("link", name="Đơn vị", exact=True).click()
        page.wait_for_url("**/leaderboard?scope=unit*")
        assert page.get_by_role("heading", name="Tổ dân phố số 1").is_visible()
        page.get_by_role("link", name="Phường An Bình").click()
        page.wait_for_url(f"**unit_id={info['ward']}")
        assert page.get_by_role("heading", name="Phường An Bình").is_visible()
        assert page.locator(".board-list .who").all_inner_texts()[0] == "Châu P."
        page.get_by_role("link", name="Tháng này").click()
        page.wait_for_url("**period=month*")
        assert "unit_id" in page.url
        shot(page, artifacts, "leaderboard-unit")

        page.get_by_role("link", name="Xem bảng thi đua").click()
        page.wait_for_url(f"{base}/units/{info['ward']}/board")
        assert page.locator("li.standing").count() == 2
        page.get_by_role("link", name="Tỉnh Thử Nghiệm").click()
        page.wait_for_url(f"**/units/{info['province']}/board*")
        first = page.locator("li.standing").first.inner_text()
        assert first.startswith("Hạng\n1\nXã Đồng Tâm") and "100% (3/3 học viên)" in first
        page.get_by_role("link", name="Điểm bình quân").click()
        page.wait_for_url("**metric=points*")
        shot(page, artifacts, "unit-board")
        with page.expect_download() as download:
            page.get_by_role("link", name="Tải về CSV").click()
        assert download.value.suggested_filename.endswith(".csv")
        with page.expect_download() as download:
            page.get_by_role("link", name="Tải về Excel").click()
        assert download.value.suggested_filename.endswith(".xlsx")

        page.goto(base + "/league")
        up = page.locator(".zone-up .board-row")
        down = page.locator(".zone-down .board-row")
        assert up.count() == 3 and down.count() == 2
        assert page.get_by_role("heading", name="Vùng lên hạng").is_visible()
        assert page.get_by_role("heading", name="Vùng xuống hạng").is_visible()
        assert "Lên hạng" in page.locator("#past-title + ul").inner_text()
        shot(page, artifacts, "league")

        page.get_by_role("link", name="Huy hiệu").first.click()
        page.wait_for_url(base + "/badges")
        assert page.get_by_role("img", name="Bước chân đầu tiên").is_visible()
        assert page.get_by_role("img", name="Lửa bảy ngày").is_visible()
        assert page.get_by_role("img", name="Thăng hạng").is_visible()  # last week's league
        assert page.locator(".badge.earned").count() == 3
        shot(page, artifacts, "badges")
        assert errors == []


def test_a_newcomer_without_points(world, artifacts):
    base, info = world
    with phone_browser() as context:
        page = context.new_page()
        sign_in(page, base, info["newcomer"])
        assert page.get_by_text("Chưa có hạng").is_visible()
        shot(page, artifacts, "home-newcomer")
        page.goto(base + "/league")
        assert page.get_by_text("Kiếm điểm đầu tiên trong tuần để vào giải").is_visible()
        shot(page, artifacts, "league-not-joined")
        page.goto(base + "/leaderboard")
        assert page.get_by_text("Bạn chưa có điểm trong tuần này").is_visible()
        page.locator("#me").screenshot(path=str(artifacts / "gamification-no-points.png"))


def pages(info):
    return [
        "/",
        "/leaderboard",
        "/leaderboard?scope=unit&period=all",
        "/leaderboard?scope=group",
        "/league",
        "/badges",
        f"/units/{info['province']}/board",
        f"/units/{info['ward']}/board?metric=points",
    ]


def test_accessible_and_inside_the_screen_at_200_percent(world, artifacts):
    base, info = world
    axe = Axe()
    with phone_browser() as context:
        page = context.new_page()
        sign_in(page, base, info["me"])
        for path in pages(info):
            page.goto(base + path, wait_until="networkidle")
            violations = axe_violations(axe, page)
            assert violations == [], (path, violations)
            page.evaluate("document.documentElement.style.fontSize = '200%'")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width, page.evaluate(WIDE))
        page.goto(base + "/league")
        page.evaluate("document.documentElement.style.fontSize = '200%'")
        shot(page, artifacts, "league-200-percent")
        page.goto(f"{base}/units/{info['province']}/board")
        page.evaluate("document.documentElement.style.fontSize = '200%'")
        shot(page, artifacts, "unit-board-200-percent")
        page.goto(base + "/")
        page.get_by_role("button", name="Chữ to").click()
        for path in pages(info):
            page.goto(base + path)
            assert "large-text" in (page.locator("html").get_attribute("class") or "")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
            small = page.evaluate(SMALL_TARGETS)
            assert small == [], path
        shot(page, artifacts, "unit-board-large-text")
