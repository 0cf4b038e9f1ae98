"""How learners appear to each other: every board (all time, week, month × everyone, unit,
group, level), the league, the mentor board, a unit's honour roll, their JSON answers and
the "your place" card show another learner by given name and family-name initial
("Cường N.") until that learner chooses their full name; the unit (hamlet) beside a short
name only on unit-subtree boards. Learners see themselves in full. Administrators' honour
roll exports keep full names. Run with SQL boards and with Redis boards."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date

import pytest
import redis
from openpyxl import load_workbook

from app.core.clock import local_day
from app.core.text import short_name
from app.gamification import periods
from app.gamification.boards import reseat
from app.gamification.ledger import award
from app.gamification.redis_boards import RedisBoards
from app.models import Role, User, utcnow
from app.models.accounts import BoardName
from tests.dbutil import TEST_REDIS_URL
from tests.factories import csrf_of, form_post, group, login, make_user, page_login

FULL = "Nguyễn Văn Cường"
SHORT = "Cường N."
VIEWER = "Trần Thị Lan"
HAMLET = "Tổ dân phố số 1"


@pytest.mark.parametrize(
    ("full_name", "short"),
    [
        ("Nguyễn Văn Cường", "Cường N."),
        ("Đặng Thị Hồng Nhung", "Nhung Đ."),
        ("ông Lò Văn Páo", "Páo Ô."),
        ("Cường", "Cường"),
        ("  Hà   Thị  Mỷ ", "Mỷ H."),
        ("", "Học viên"),
        ("Học Viên Số 01", "Số 01 H."),  # a number stays with the word before it
        ("123", "123"),
    ],
)
def test_the_short_form_of_a_name(full_name, short):
    assert short_name(full_name, "Học viên") == short


# ---- the world ---------------------------------------------------------------------------


@pytest.fixture
def today(settings) -> date:
    return local_day(utcnow(), settings.tz)


@pytest.fixture(params=["sql", "redis"])
def store(request, app, db):
    """The app's boards: SQL tallies, or Redis sorted sets (rebuilt by `world`)."""
    if request.param == "sql":
        yield None
        return
    client = redis.Redis.from_url(TEST_REDIS_URL)
    prefix = f"test:names:{uuid.uuid4().hex[:8]}:"
    redis_store = RedisBoards(client, prefix=prefix)
    original = app.state.boards
    app.state.boards = redis_store
    try:
        yield redis_store
    finally:
        app.state.boards = original
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def world(db, tree, settings, today, store):
    """Cường (the learner whose name is at stake) and Lan (who looks) in the same hamlet and
    group, both with points this week (so in the same league) and Cường with mentor credit."""
    cuong = make_user(db, tree.hamlet, name=FULL)
    lan = make_user(db, tree.hamlet, name=VIEWER)
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh", email="t@x.vn")
    for user in (cuong, lan):
        user.group_id = group(db).id
    db.flush()
    reseat(db, [cuong.id, lan.id])
    for user, points, kind in ((cuong, 80, "quiz_pass"), (lan, 30, "quiz_pass")):
        award(
            db,
            user_id=user.id,
            kind=kind,
            points=points,
            key=f"t:{user.id}:{kind}",
            day=today,
            settings=settings,
        )
    award(
        db,
        user_id=cuong.id,
        kind="mentor_review",
        points=15,
        key=f"t:{cuong.id}:review",
        day=today,
        settings=settings,
    )
    db.flush()
    if store is not None:
        store.rebuild(db, ["all", periods.week_key(today), periods.month_key(today)], today=today)
    return {"cuong": cuong, "lan": lan, "admin": admin}


# ---- what a second learner sees ------------------------------------------------------------

BOARDS = [
    (scope, period)
    for scope in ("all", "unit", "group", "level")
    for period in ("week", "month", "all")
]


def api_rows(client, headers, tree):
    """Every name-bearing row the API gives the viewer: (where, name, unit or None)."""
    found = []
    for scope, period in BOARDS:
        body = client.get(
            f"/api/v1/leaderboards?scope={scope}&period={period}", headers=headers
        ).json()
        rows = body["top"] + (body["me"]["neighbours"] if body["me"] else [])
        assert len(body["top"]) == 2, (scope, period, body)
        found += [(f"{scope}/{period}", r["name"], r["unit"], r["is_me"]) for r in rows]
    league = client.get("/api/v1/me/league", headers=headers).json()
    assert len(league["standings"]) == 2
    found += [("league", r["name"], None, r["is_me"]) for r in league["standings"]]
    for scope in ("all", "unit"):
        mentors = client.get(f"/api/v1/mentors/board?scope={scope}&period=week", headers=headers)
        assert mentors.status_code == 200, mentors.text
        found += [
            (f"mentors/{scope}", r["name"], r["unit"], r["is_me"]) for r in mentors.json()["top"]
        ]
    roll = client.get(f"/api/v1/units/{tree.ward.id}/honour-roll", headers=headers).json()
    found += [("honour roll", p["name"], p["unit"], None) for p in roll["learners"]]
    return found


def test_a_second_learner_sees_the_short_form_until_the_full_name_is_chosen(
    client, db, tree, world
):
    lan_headers = login(client, world["lan"])
    seen = api_rows(client, lan_headers, tree)
    others = [r for r in seen if r[1] != VIEWER]
    assert others and {r[1] for r in others} == {SHORT}, others
    for where, _name, unit, _me in others:
        # the hamlet beside a short name only where everyone listed shares the subtree
        local = where.startswith(("unit/", "mentors/unit", "honour roll"))
        assert unit == (HAMLET if local else (None if where == "league" else "")), where
    mine = [r for r in seen if r[1] == VIEWER]
    assert mine and all(r[3] in (True, None) for r in mine)  # herself: in full, as "is me"

    # Cường chooses his full name: shown at once, with his unit, everywhere
    cuong_headers = login(client, world["cuong"])
    res = client.put("/api/v1/me/board-name", json={"choice": "full"}, headers=cuong_headers)
    assert res.status_code == 200, res.text
    assert res.json() == {"choice": "full", "shown_as": FULL}
    seen = api_rows(client, lan_headers, tree)
    others = [r for r in seen if r[1] != VIEWER]
    assert {r[1] for r in others} == {FULL}, others
    assert all(r[2] in (HAMLET, None) for r in others)

    # and back
    res = client.put("/api/v1/me/board-name", json={"choice": "short"}, headers=cuong_headers)
    assert res.json() == {"choice": "short", "shown_as": SHORT}
    assert {r[1] for r in api_rows(client, lan_headers, tree) if r[1] != VIEWER} == {SHORT}


def test_pages_show_the_short_form_and_the_full_name_once_chosen(client, db, tree, world):
    pages = [f"/leaderboard?scope={s}&period={p}" for s, p in BOARDS]
    pages += ["/league", "/mentors/board?period=week", "/mentors/board?period=week&scope=unit"]
    pages += [f"/units/{tree.ward.id}/board"]
    page_login(client, world["lan"])
    for path in pages:
        html = client.get(path).text
        assert SHORT in html and FULL not in html, path
        if "mentors" not in path:  # Lan has no mentor credit
            assert VIEWER in html, path  # herself in full
    client.cookies.clear()
    world["cuong"].board_name = BoardName.full
    db.flush()
    page_login(client, world["lan"])
    for path in pages:
        html = client.get(path).text
        assert FULL in html and SHORT not in html, path


def test_the_your_place_card_and_neighbours(client, db, tree, settings, today, world):
    """The card names how others see Lan and links to the choice; her neighbours (Cường
    among them) are in the short form."""
    page_login(client, world["lan"])
    html = client.get("/leaderboard?scope=unit&period=week").text
    me = html[html.index('id="me-title"') :]
    assert "Người khác thấy bạn trên bảng là" in me and "Lan T." in me
    assert 'href="/leaderboard/name"' in me
    client.cookies.clear()
    body = client.get(
        "/api/v1/leaderboards?scope=all&period=week", headers=login(client, world["lan"])
    ).json()
    assert [r["name"] for r in body["me"]["neighbours"]] == [SHORT, VIEWER]


# ---- choosing -------------------------------------------------------------------------------


def test_the_choice_page_and_form(client, db, world):
    cuong = world["cuong"]
    page_login(client, cuong)
    board = client.get("/leaderboard").text
    assert 'href="/leaderboard/name"' in board
    page = client.get("/leaderboard/name")
    assert page.status_code == 200
    html = page.text
    assert "Tên của bạn trên bảng xếp hạng" in html
    assert re.search(r'value="short"[^>]*checked', html)
    assert SHORT in html and FULL in html
    # without the CSRF token: refused
    res = client.post("/leaderboard/name", data={"choice": "full"}, follow_redirects=False)
    assert res.status_code == 403
    db.refresh(cuong)
    assert cuong.board_name == BoardName.short
    res = form_post(client, "/leaderboard/name", {"choice": "full"}, follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/leaderboard/name?done=1"
    db.refresh(cuong)
    assert cuong.board_name == BoardName.full
    html = client.get("/leaderboard/name?done=1").text
    assert "Đã lưu" in html and re.search(r'value="full"[^>]*checked', html)
    # a bad value: a Vietnamese message and a 4xx, nothing changed
    csrf_of(client, "/leaderboard/name")
    res = form_post(client, "/leaderboard/name", {"choice": "nickname"}, follow_redirects=False)
    assert res.status_code == 400 and "Hãy chọn một cách hiện tên" in res.text
    db.refresh(cuong)
    assert cuong.board_name == BoardName.full


def test_the_choice_api(client, db, world):
    headers = login(client, world["cuong"])
    got = client.get("/api/v1/me/board-name", headers=headers)
    assert got.json() == {"choice": "short", "shown_as": SHORT}
    bad = client.put("/api/v1/me/board-name", json={"choice": "nickname"}, headers=headers)
    assert bad.status_code == 422 and "không hợp lệ" in bad.json()["detail"]
    assert client.put("/api/v1/me/board-name", json={}, headers=headers).status_code == 422
    assert client.put("/api/v1/me/board-name", json={"choice": "full"}).status_code == 401
    assert client.get("/api/v1/me/board-name").status_code == 401


def test_a_new_account_starts_with_the_short_form(db, tree):
    user = make_user(db, tree.hamlet, name=FULL)
    db.expire(user)
    assert db.get(User, user.id).board_name == BoardName.short


# ---- the honour roll for administrators -------------------------------------------------------


def roll_names(res) -> list[str]:
    if res.headers["content-type"].startswith("text/csv"):
        lines = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
    else:
        sheet = load_workbook(io.BytesIO(res.content)).active
        lines = [list(r) for r in sheet.iter_rows(values_only=True)]
    return [str(line[2]) for line in lines[2:] if line[0] == "Học viên"]


def test_administrators_exports_keep_full_names(client, db, tree, world):
    unit_admin = make_user(
        db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường", email="p@x.vn"
    )
    for who in (world["admin"], unit_admin):
        page_login(client, who)
        for fmt in ("csv", "xlsx"):
            res = client.get(f"/units/{tree.ward.id}/honour-roll.{fmt}")
            assert res.status_code == 200
            assert roll_names(res) == [FULL, VIEWER], (who.full_name, fmt)
        page = client.get(f"/units/{tree.ward.id}/board").text
        assert FULL in page
        client.cookies.clear()
        headers = login(client, who)
        res = client.get(f"/api/v1/units/{tree.ward.id}/honour-roll?format=csv", headers=headers)
        assert roll_names(res) == [FULL, VIEWER]
        client.cookies.clear()
    # a unit admin looking at a unit above theirs sees outsiders' public names
    page_login(client, unit_admin)
    res = client.get(f"/units/{tree.province.id}/honour-roll.csv")
    assert roll_names(res) == [SHORT, "Lan T."]
    client.cookies.clear()
    # learners download the honour roll as they see it on the page
    page_login(client, world["lan"])
    assert roll_names(client.get(f"/units/{tree.ward.id}/honour-roll.csv")) == [SHORT, VIEWER]
