"""The gamification pages without JavaScript: leaderboards, the weekly league, badges, a
unit's emulation board with its honour roll (CSV, XLSX), and the home page's streak and
rank cards. Points come from the ledger itself, so the pages read what learners earn."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from app.core.clock import local_day
from app.gamification import leagues, periods
from app.gamification.boards import reseat
from app.gamification.ledger import award
from app.gamification.streaks import stats_for
from app.models import Role, User, utcnow
from tests.factories import group, make_user, page_login


@pytest.fixture
def today(settings) -> date:
    return local_day(utcnow(), settings.tz)


@pytest.fixture
def give(db, settings, today):
    """give(user, points, day=today): a quiz_pass event (one per call)."""
    counter = iter(range(1, 1_000_000))

    def _give(user: User, points: int, day: date | None = None, kind: str = "quiz_pass"):
        event = award(
            db,
            user_id=user.id,
            kind=kind,
            points=points,
            key=f"test:{user.id}:{next(counter)}",
            day=day or today,
            settings=settings,
        )
        db.flush()
        return event

    return _give


@pytest.fixture
def learner(db, tree, lessons):
    return make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung")


@pytest.fixture
def signed_in(client, learner):
    assert page_login(client, learner).status_code == 303
    return client


@pytest.fixture
def neighbours(db, tree, give, learner):
    """Two more learners in the hamlet and one in the commune's village, with points."""
    people = {
        "Lò Văn Páo": (tree.hamlet, 50),
        "Hà Thị Mỷ": (tree.hamlet, 10),
        "Đinh Văn Sơn": (tree.village, 40),
    }
    made = {}
    for name, (unit, points) in people.items():
        made[name] = make_user(db, unit, name=name)
        give(made[name], points)
    give(learner, 30)
    return made


def rows(html: str) -> list[tuple[str, str, bool, str]]:
    """(rank, name, is me, points) of every ranking row on the page, in order."""
    found = []
    for m in re.finditer(r'<li class="board-row( me)?">(.*?)</li>', html, re.S):
        body = m.group(2)
        rank = re.search(r'<span class="sr">Hạng </span>(\d+)</span>', body).group(1)
        name = re.search(r'<span class="who">([^<]+)</span>', body).group(1)
        points = re.search(r"<strong>(\d+)</strong> điểm", body).group(1)
        found.append((rank, name, bool(m.group(1)), points))
    return found


def section(html: str, ident: str) -> str:
    start = html.index(f'id="{ident}"')
    end = html.find("</section>", start)
    return html[start:end]


# ---- leaderboards ----------------------------------------------------------------------


def test_the_leaderboard_lists_everyone_in_rank_order_with_me_highlighted(signed_in, neighbours):
    page = signed_in.get("/leaderboard")
    assert page.status_code == 200
    html = page.text
    assert '<h2 id="board-title">Toàn bộ học viên</h2>' in html
    assert "4 người có điểm" in html
    assert rows(html) == [
        ("1", "Páo L.", False, "50"),
        ("2", "Sơn Đ.", False, "40"),
        ("3", "Nguyễn Thị Hồng Nhung", True, "30"),
        ("4", "Mỷ H.", False, "10"),
    ]
    me = section(html, "me-title")
    assert "thứ 3</strong> trong 4 người" in me and "30 điểm" in me
    assert "board-list" not in me  # in the top: no separate list of neighbours
    # the tabs are links; the chosen ones are marked
    assert 'href="/leaderboard?scope=unit&amp;period=week" aria-current' not in html
    assert '<a href="/leaderboard?scope=all&amp;period=week" aria-current="true">Toàn bộ' in html
    assert 'aria-current="true">Tuần này</a>' in html
    assert "Nhóm</a>" not in html  # no group: no group tab
    assert 'href="/leaderboard" aria-current="page">Xếp hạng</a>' in html


def test_the_unit_board_and_the_units_above(signed_in, neighbours, tree):
    html = signed_in.get("/leaderboard?scope=unit").text
    assert '<h2 id="board-title">Tổ dân phố số 1</h2>' in html
    assert [r[1] for r in rows(html)] == ["Páo L.", "Nguyễn Thị Hồng Nhung", "Mỷ H."]
    assert [r[0] for r in rows(html)] == ["1", "2", "3"]
    # the learner can switch to the ward and the province, not to a sibling commune
    for unit in (tree.hamlet, tree.ward, tree.province):
        assert f"unit_id={unit.id}" in html and unit.name in html
    assert f"unit_id={tree.commune.id}" not in html
    province = signed_in.get(f"/leaderboard?scope=unit&period=week&unit_id={tree.province.id}")
    assert province.status_code == 200
    assert [r[1] for r in rows(province.text)] == [
        "Páo L.",
        "Sơn Đ.",
        "Nguyễn Thị Hồng Nhung",
        "Mỷ H.",
    ]
    assert f'unit_id={tree.province.id}" aria-current="true"' in province.text
    refused = signed_in.get(f"/leaderboard?scope=unit&unit_id={tree.commune.id}")
    assert refused.status_code == 403
    assert "đơn vị mình và đơn vị cấp trên" in refused.text
    # the emulation board of the learner's parent unit is one link away
    assert f'href="/units/{tree.ward.id}/board"' in html


def test_the_group_tab_shows_for_a_learner_in_a_group(signed_in, db, learner, neighbours):
    learner.group_id = group(db).id
    db.flush()
    reseat(db, [learner.id])  # as the account services do
    html = signed_in.get("/leaderboard?scope=group").text
    assert '<a href="/leaderboard?scope=group&amp;period=week" aria-current="true">Nhóm' in html
    assert [r[1] for r in rows(html)] == ["Nguyễn Thị Hồng Nhung"]


def test_periods_count_only_their_points(signed_in, learner, neighbours, give, today):
    give(learner, 100, day=today - timedelta(days=40))  # another week and another month
    week = rows(signed_in.get("/leaderboard?period=week").text)
    assert week[2] == ("3", "Nguyễn Thị Hồng Nhung", True, "30")
    everything = rows(signed_in.get("/leaderboard?period=all").text)
    assert everything[0] == ("1", "Nguyễn Thị Hồng Nhung", True, "130")
    assert "Mọi lúc" in signed_in.get("/leaderboard?period=all").text


def test_outside_the_top_50_i_see_my_rank_and_neighbours(db, client, tree, give, lessons):
    others = [make_user(db, tree.hamlet, name=f"Học Viên Số {i:02d}") for i in range(1, 53)]
    for i, user in enumerate(others):
        give(user, 200 - i)  # 200, 199, ... 149
    me = make_user(db, tree.hamlet, name="Người Cuối Bảng")
    give(me, 5)
    last = make_user(db, tree.hamlet, name="Người Sau Tôi")
    give(last, 3)
    page_login(client, me)
    html = client.get("/leaderboard").text
    top = rows(html[: html.index('id="me-title"')])
    assert len(top) == 50 and top[0] == ("1", "Số 01 H.", False, "200")
    assert top[-1] == ("50", "Số 50 H.", False, "151")
    assert "Bảng hiện 50 người dẫn đầu." in html
    mine = section(html, "me-title")
    assert "thứ 53</strong> trong 54 người" in mine
    assert rows(mine) == [
        ("51", "Số 51 H.", False, "150"),
        ("52", "Số 52 H.", False, "149"),
        ("53", "Người Cuối Bảng", True, "5"),
        ("54", "Tôi N.", False, "3"),
    ]


def test_no_points_yet_gives_a_friendly_message(signed_in, neighbours, tree, db):
    html = signed_in.get("/leaderboard?period=month").text
    assert "Nguyễn Thị Hồng Nhung" in html  # points this week are points this month too
    other = make_user(db, tree.hamlet, name="Người Mới Vào")
    signed_in.cookies.clear()
    page_login(signed_in, other)
    html = signed_in.get("/leaderboard").text
    mine = section(html, "me-title")
    assert "Bạn chưa có điểm trong tuần này nên chưa có tên trên bảng này." in mine
    assert "Kiếm điểm để lên bảng" in mine and 'href="/"' in mine
    assert all(not r[2] for r in rows(html))


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("scope=xa", 400, "Không có bảng xếp hạng này"),
        ("scope=group", 400, "Không có bảng xếp hạng này"),  # no group
        ("period=year", 400, "Kỳ xếp hạng không hợp lệ"),
        ("scope=unit&unit_id=abc", 400, "Mã đơn vị không hợp lệ"),
        ("scope=unit&unit_id=99999999999", 400, "Mã đơn vị không hợp lệ"),
        ("scope=unit&unit_id=2147483000", 403, "đơn vị mình và đơn vị cấp trên"),
        ("scope=" + "x" * 30, 422, "Quá dài"),
    ],
)
def test_bad_leaderboard_queries_give_a_vietnamese_4xx(signed_in, query, status, message):
    res = signed_in.get(f"/leaderboard?{query}")
    assert res.status_code == status, res.text[:300]
    assert message in res.text and "<html" in res.text


def test_the_pages_need_a_sign_in(client, tree):
    for path in ("/leaderboard", "/league", "/badges", f"/units/{tree.ward.id}/board"):
        res = client.get(path, follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"].startswith("/login"), path
    res = client.get(f"/units/{tree.ward.id}/honour-roll.csv", follow_redirects=False)
    assert res.status_code == 303


# ---- the weekly league -----------------------------------------------------------------


def test_before_the_first_points_of_the_week_the_learner_is_not_in_the_league(signed_in):
    html = signed_in.get("/league").text
    assert "Hạng Đồng" in html
    assert "Kiếm điểm đầu tiên trong tuần để vào giải" in html
    assert "Bảng đấu của bạn" not in html
    assert "Luật chơi" in html and "7 người đứng đầu" in html
    assert "Chưa có kết quả tuần nào" in html


def test_the_league_marks_promotion_and_demotion_zones(
    signed_in, db, tree, learner, give, today, settings
):
    members = [make_user(db, tree.village, name=f"Đấu Thủ {i:02d}") for i in range(1, 14)]
    for user in [learner, *members]:
        stats_for(db, user.id).league_tier = 1  # Hạng Bạc: both zones apply
    db.flush()
    for i, user in enumerate(members):
        give(user, 100 - i * 5)  # 100, 95, ..., 40
    give(learner, 42)  # between 45 and 40: 13th of 14
    html = signed_in.get("/league").text
    assert "Hạng Bạc" in html and "Kiếm điểm đầu tiên" not in html
    end = leagues.week_end(today)
    assert f"kết thúc hết Chủ nhật {end:%d/%m/%Y}" in html
    assert periods.span(periods.week_key(today)).label in html
    up = html[html.index('class="zone zone-up"') : html.index('class="zone zone-stay"')]
    stay = html[html.index('class="zone zone-stay"') : html.index('class="zone zone-down"')]
    down = html[html.index('class="zone zone-down"') : html.index('id="rules-title"')]
    assert "Vùng lên hạng" in up and up.count("Lên Hạng Vàng") == 7
    assert [r[1] for r in rows(up)] == [f"Thủ {i:02d} Đ." for i in range(1, 8)]
    assert "Vùng giữ hạng" in stay and [r[1] for r in rows(stay)] == ["Thủ 08 Đ.", "Thủ 09 Đ."]
    assert "Vùng xuống hạng" in down and down.count("Xuống hạng") == 5
    assert [(r[0], r[1], r[2]) for r in rows(down)] == [
        ("10", "Thủ 10 Đ.", False),
        ("11", "Thủ 11 Đ.", False),
        ("12", "Thủ 12 Đ.", False),
        ("13", "Nguyễn Thị Hồng Nhung", True),
        ("14", "Thủ 13 Đ.", False),
    ]


def test_past_league_results_are_listed(signed_in, db, learner, tree, give, today, settings):
    last_week = today - timedelta(days=7)
    rival = make_user(db, tree.hamlet, name="Bạn Cùng Bảng")
    give(learner, 80, day=last_week)
    give(rival, 20, day=last_week)
    week = periods.week_key(last_week)
    assert leagues.close_week(db, week=week, settings=settings, now=utcnow()) == 1
    db.flush()
    html = signed_in.get("/league").text
    past = section(html, "past-title")
    assert periods.span(week).label in past
    assert "Hạng Đồng · đứng thứ 1 · 80 điểm" in past and "Lên hạng" in past
    assert "Hạng Bạc" in section(html, "league-title")  # promoted: this week in Bạc


# ---- badges ----------------------------------------------------------------------------


def test_badges_earned_with_their_date_and_locked_with_their_rule(signed_in, learner, give):
    give(learner, 50, kind="lesson_complete")
    html = signed_in.get("/badges").text
    earned = section(html, "earned-title")
    locked = section(html, "locked-title")
    assert '<img src="/static/img/badges/first_lesson.svg" alt="Bước chân đầu tiên"' in earned
    day = utcnow().astimezone(signed_in.app.state.settings.tz).strftime("%d/%m/%Y")
    assert f"Nhận ngày {day}" in earned
    assert "Chăm học" not in earned
    assert 'alt="Chăm học"' in locked and "Cách nhận: Hoàn thành 10 bài học." in locked
    assert "Bước chân đầu tiên" not in locked
    assert locked.count('class="badge locked"') == 15
    assert "1/16</strong> huy hiệu" in html


def test_no_badge_yet(signed_in):
    html = signed_in.get("/badges").text
    assert "Bạn chưa có huy hiệu nào" in html and "0/16</strong>" in html


# ---- unit emulation and the honour roll ------------------------------------------------


def test_the_unit_board_compares_child_units(signed_in, db, tree, neighbours, learner):
    tree.ward.target_population = 1000
    make_user(db, tree.village, name="Chưa Học Bài")  # registered, not active
    db.flush()
    res = signed_in.get(f"/units/{tree.province.id}/board")
    assert res.status_code == 200
    html = res.text
    assert "Thi đua: Tỉnh Thử Nghiệm" in html
    cards = re.findall(r'<li class="standing">(.*?)</li>', html, re.S)
    assert len(cards) == 2
    ward, commune = cards
    assert "Phường An Bình" in ward and "Hạng </span>1<" in ward
    assert '100% <span class="small">(3/3 học viên)</span>' in ward
    assert '0,3% <span class="small">(3/1.000)</span>' in ward  # of the target population
    assert "<dd>30</dd>" in ward  # (50 + 30 + 10) / 3
    assert "Xã Đồng Tâm" in commune and "Hạng </span>2<" in commune
    assert '50% <span class="small">(1/2 học viên)</span>' in commune
    assert "So với mục tiêu" not in commune
    assert "<dd>20</dd>" in commune  # 40 / 2
    # the learner may open the ward (their own branch), not the commune
    assert f'href="/units/{tree.ward.id}/board?period=week' in ward
    assert f"/units/{tree.commune.id}/board" not in html
    # the honour roll: top learners of the province, and the best units
    roll = section(html, "roll-title")
    names = re.findall(r"<strong>([^<]+)</strong>", roll)
    assert names == [
        "Páo L.",
        "Sơn Đ.",
        "Nguyễn Thị Hồng Nhung",
        "Mỷ H.",
        "Phường An Bình",
        "Xã Đồng Tâm",
    ]
    assert f'href="/units/{tree.province.id}/honour-roll.csv?period=week&amp;key=' in roll
    assert f'href="/units/{tree.province.id}/honour-roll.xlsx?period=week&amp;key=' in roll


def test_metric_tabs_rank_by_points(signed_in, db, tree, give, learner):
    give(learner, 100)  # the ward: 1 of 1 active (100%), 100 points each
    give(make_user(db, tree.village, name="Người Chăm"), 300)
    make_user(db, tree.village, name="Người Chưa Học")  # the commune: 1 of 2 (50%), 150 each
    standings = r'<li class="standing">.*?(Phường An Bình|Xã Đồng Tâm)'
    by_participation = signed_in.get(f"/units/{tree.province.id}/board").text
    assert re.findall(standings, by_participation, re.S) == ["Phường An Bình", "Xã Đồng Tâm"]
    assert 'metric=participation" aria-current="true">Tỉ lệ tham gia' in by_participation
    by_points = signed_in.get(f"/units/{tree.province.id}/board?metric=points").text
    assert re.findall(standings, by_points, re.S) == ["Xã Đồng Tâm", "Phường An Bình"]
    assert 'metric=points" aria-current="true">Điểm bình quân' in by_points
    assert '<div class="on"><dt>Điểm bình quân</dt><dd>150</dd>' in by_points


def test_previous_periods(signed_in, tree, give, learner, today):
    last_week = today - timedelta(days=7)
    give(learner, 25, day=last_week)
    key = periods.week_key(today)
    before = periods.previous(key)
    html = signed_in.get(f"/units/{tree.ward.id}/board").text
    assert f"key={before}" in html and 'rel="next"' not in html
    assert "Chưa có học viên nào có điểm trong kỳ này." in html
    old = signed_in.get(f"/units/{tree.ward.id}/board?key={before}")
    assert old.status_code == 200
    assert periods.span(before).label in old.text and "(kỳ đã qua)" in old.text
    assert f"key={key}" in old.text and 'rel="next"' in old.text
    assert "Nguyễn Thị Hồng Nhung" in section(old.text, "roll-title")
    month = signed_in.get(f"/units/{tree.ward.id}/board?period=month").text
    assert periods.span(periods.month_key(today)).label in month


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("period=year", 400, "Kỳ thi đua không hợp lệ"),
        ("key=2026-W99", 422, "Kỳ không hợp lệ"),
        ("key=2026-13", 422, "Kỳ không hợp lệ"),
        ("key=tuan-truoc", 400, "Kỳ không hợp lệ"),
        ("key=all", 400, "Kỳ không hợp lệ"),
        ("metric=speed", 400, "Tiêu chí thi đua không hợp lệ"),
    ],
)
def test_bad_unit_board_queries_give_a_vietnamese_4xx(signed_in, tree, query, status, message):
    for path in (f"/units/{tree.ward.id}/board", f"/units/{tree.ward.id}/honour-roll.csv"):
        if "metric" in query and "honour" in path:
            continue
        res = signed_in.get(f"{path}?{query}")
        assert res.status_code == status, (path, res.text[:300])
        assert message in res.text


def test_units_a_learner_may_not_see(signed_in, tree):
    for path in ("board", "honour-roll.csv", "honour-roll.xlsx"):
        res = signed_in.get(f"/units/{tree.commune.id}/{path}")
        assert res.status_code == 403, path
        assert "Bạn không xem được bảng thi đua của đơn vị này." in res.text
        assert signed_in.get(f"/units/{tree.village.id}/{path}").status_code == 403
        assert signed_in.get(f"/units/999999/{path}").status_code == 404
        assert signed_in.get(f"/units/0/{path}").status_code == 422
        assert signed_in.get(f"/units/99999999999/{path}").status_code == 422


def test_admins_see_their_scope(client, db, tree, neighbours):
    unit_admin = make_user(db, tree.commune, role=Role.unit_admin, email="xa@example.vn")
    page_login(client, unit_admin)
    assert client.get(f"/units/{tree.commune.id}/board").status_code == 200
    assert client.get(f"/units/{tree.ward.id}/board").status_code == 403
    html = client.get("/leaderboard").text
    assert "không tham gia xếp hạng" in html
    client.cookies.clear()
    admin = make_user(db, tree.province, role=Role.admin, email="tinh@example.vn")
    page_login(client, admin)
    html = client.get(f"/units/{tree.province.id}/board").text
    assert f'href="/units/{tree.commune.id}/board' in html  # admins may open every unit
    units = client.get(f"/admin/units?parent={tree.province.id}").text
    assert f'href="/units/{tree.province.id}/board"' in units


def test_the_honour_roll_as_csv(signed_in, tree, neighbours, today):
    res = signed_in.get(f"/units/{tree.province.id}/honour-roll.csv")
    assert res.status_code == 200
    assert res.headers["content-type"] == "text/csv; charset=utf-8"
    key = periods.week_key(today)
    disposition = res.headers["content-disposition"]
    assert f'filename="vinh-danh-{tree.province.code}-{key}.csv"' in disposition
    assert res.content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
    assert lines[0] == [f"Vinh danh – Tỉnh Thử Nghiệm – {periods.span(key).label}"]
    assert lines[1] == [
        "Loại",
        "Hạng",
        "Tên",
        "Đơn vị",
        "Điểm",
        "Tỉ lệ tham gia (%)",
        "Học viên tham gia",
    ]
    assert lines[2:] == [
        ["Học viên", "1", "Páo L.", "Tổ dân phố số 1", "50", "", ""],
        ["Học viên", "2", "Sơn Đ.", "Thôn Bản Lác", "40", "", ""],
        ["Học viên", "3", "Nguyễn Thị Hồng Nhung", "Tổ dân phố số 1", "30", "", ""],
        ["Học viên", "4", "Mỷ H.", "Tổ dân phố số 1", "10", "", ""],
        ["Đơn vị", "1", "Phường An Bình", "Tỉnh Thử Nghiệm", "90", "100.0", "3/3"],
        ["Đơn vị", "1", "Xã Đồng Tâm", "Tỉnh Thử Nghiệm", "40", "100.0", "1/1"],
    ]


def test_the_honour_roll_as_xlsx(signed_in, tree, neighbours, today):
    before = periods.previous(periods.week_key(today))
    res = signed_in.get(f"/units/{tree.ward.id}/honour-roll.xlsx?period=week&key={before}")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert f"-{before}.xlsx" in res.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(res.content)).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][0] == f"Vinh danh – Phường An Bình – {periods.span(before).label}"
    assert values[1][:3] == ["Loại", "Hạng", "Tên"]
    assert values[2:] == []  # nobody had points last week
    now = signed_in.get(f"/units/{tree.ward.id}/honour-roll.xlsx")
    values = [
        list(r) for r in load_workbook(io.BytesIO(now.content)).active.iter_rows(values_only=True)
    ]
    assert [v[:5] for v in values[2:]] == [
        ["Học viên", 1, "Páo L.", "Tổ dân phố số 1", 50],
        ["Học viên", 2, "Nguyễn Thị Hồng Nhung", "Tổ dân phố số 1", 30],
        ["Học viên", 3, "Mỷ H.", "Tổ dân phố số 1", 10],
        ["Đơn vị", 1, "Tổ dân phố số 1", "Phường An Bình", 90],
    ]


# ---- the home page's cards -------------------------------------------------------------


def test_home_before_any_points_has_no_rank(signed_in):
    html = signed_in.get("/").text
    assert "Chưa có hạng" in html and "Kiếm điểm để lên bảng." in html
    assert "None" not in html
    assert "<strong>0/2</strong> ngày bảo vệ chuỗi · thêm 1 ngày sau 7 ngày học nữa" in html
    for href in ("/leaderboard", "/league", "/badges"):
        assert f'href="{href}"' in html
    assert 'href="/leaderboard" >Xếp hạng</a>' in html


def test_home_with_points_has_a_rank_and_a_streak_status(signed_in, learner, neighbours, db, today):
    stats = stats_for(db, learner.id)
    stats.streak, stats.longest_streak, stats.last_counted = 8, 8, today
    stats.settled_through, stats.freezes = today - timedelta(days=1), 1
    db.flush()
    html = signed_in.get("/").text
    assert "2/3" in html and "Chưa có hạng" not in html
    assert "8 ngày" in html and "Hôm nay đã được tính." in html
    assert "<strong>1/2</strong> ngày bảo vệ chuỗi · thêm 1 ngày sau 6 ngày học nữa" in html
    stats.last_counted = today - timedelta(days=1)
    stats.freezes = 0
    db.flush()
    html = signed_in.get("/").text
    assert "Hôm nay chưa học:" in html and "để giữ chuỗi" in html
