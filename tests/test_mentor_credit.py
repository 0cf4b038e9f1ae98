"""Mentor credit: the mentor board from hand-built ledger events (periods, scopes, ties),
people helped, the summary on the badges page, and a unit's active mentors."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from app.core.clock import local_day
from app.mentoring import credit
from app.models import (
    Answer,
    Mentorship,
    MentorStatus,
    PointEvent,
    Question,
    Review,
    ReviewItem,
    ReviewKind,
    ReviewStatus,
    Role,
    Unit,
)
from tests.factories import graded_submission, login, make_user, page_login
from tests.lessons import L1

MONDAY = date(2026, 11, 16)  # its week: 16-22 November


def event(db, user, points, day, kind="mentor_review"):
    db.add(
        PointEvent(
            user_id=user.id,
            kind=kind,
            points=points,
            requested=points,
            idempotency_key=f"t:{uuid.uuid4().hex}",
            day=day,
            details={},
        )
    )
    db.flush()


def ranks(view):
    return [(r.name, r.rank, r.points) for r in view.top]


@pytest.fixture
def people(db, tree):
    a = make_user(db, tree.ward, name="Người A")
    b = make_user(db, tree.hamlet, role=Role.mentor, name="Người B")
    c = make_user(db, tree.commune, name="Người C")
    gone = make_user(db, tree.ward, name="Đã Nghỉ")
    gone.is_active = False
    admin = make_user(db, tree.ward, role=Role.admin, name="Quản Trị")
    event(db, a, 15, MONDAY)
    event(db, a, 10, date(2026, 11, 9), "answer_accepted")  # the week before
    event(db, a, 30, date(2026, 10, 20), "teach_back_featured")  # the month before
    event(db, b, 15, date(2026, 11, 17))
    event(db, b, 100, date(2026, 11, 17), "quiz_pass")  # not a mentor kind
    event(db, c, 30, date(2026, 11, 18), "answer_accepted")
    event(db, c, 10, date(2026, 10, 1))
    event(db, gone, 100, MONDAY)
    event(db, admin, 100, MONDAY)
    return a, b, c


def board(db, viewer, period, scope="all", **kw):
    return credit.board(
        db,
        viewer_id=viewer.id,
        viewer_unit_path=db.get(Unit, viewer.unit_id).path,
        period=period,
        scope=scope,
        today=MONDAY,
        **kw,
    )


def test_the_board_sums_mentor_points_per_period(db, people):
    a, _, _ = people
    week = board(db, a, "week")
    # equal points share a rank, listed by account id
    assert ranks(week) == [("C N.", 1, 30), ("Người A", 2, 15), ("B N.", 2, 15)]
    assert week.size == 3 and week.period_key == "2026-W47"
    assert ranks(board(db, a, "month")) == [
        ("C N.", 1, 30),
        ("Người A", 2, 25),
        ("B N.", 3, 15),
    ]
    assert ranks(board(db, a, "all")) == [
        ("Người A", 1, 55),
        ("C N.", 2, 40),
        ("B N.", 3, 15),
    ]


def test_the_unit_scope_is_the_viewers_subtree_and_me_is_found_beyond_the_top(db, tree, people):
    a, b, _ = people
    unit = board(db, a, "week", "unit")
    assert ranks(unit) == [("Người A", 1, 15), ("B N.", 1, 15)]
    assert unit.unit_name == "Phường An Bình" and unit.size == 2
    assert unit.me is not None and unit.me.is_me and unit.me.name == "Người A"
    short = board(db, b, "month", limit=1)
    assert ranks(short) == [("C N.", 1, 30)]
    assert short.me is not None and (short.me.rank, short.me.position, short.me.points) == (
        3,
        3,
        15,
    )
    nobody = make_user(db, tree.village, name="Chưa Có Điểm")
    assert board(db, nobody, "all").me is None
    assert board(db, nobody, "all", "unit").top == []


def test_the_board_api_and_page(client, db, tree, settings):
    today = local_day(datetime.now(UTC), settings.tz)
    a = make_user(db, tree.ward, name="Người A")
    b = make_user(db, tree.commune, name="Người B")
    event(db, a, 15, today)
    event(db, b, 30, today, "answer_accepted")
    headers = login(client, a)
    res = client.get("/api/v1/mentors/board?period=week&scope=all", headers=headers)
    assert res.status_code == 200
    body = res.json()
    assert [(r["name"], r["rank"], r["is_me"]) for r in body["top"]] == [
        ("B N.", 1, False),
        ("Người A", 2, True),
    ]
    assert body["me"]["rank"] == 2
    mine = client.get("/api/v1/mentors/board?period=month&scope=unit", headers=headers).json()
    assert [r["name"] for r in mine["top"]] == ["Người A"] and mine["unit"] == "Phường An Bình"
    assert client.get("/api/v1/mentors/board?period=year", headers=headers).status_code == 422

    assert page_login(client, a).status_code == 303
    page = client.get("/mentors/board?period=week")
    assert page.status_code == 200
    assert "Người hướng dẫn tiêu biểu" in page.text and "B N." in page.text
    assert client.get("/mentors/board?scope=moon").status_code == 400


# ---- people helped ---------------------------------------------------------------------------


def submission_of(db, user):
    return graded_submission(db, user, L1, score=60.0, passed=False, day=MONDAY)


def reviewed(db, reviewer, learner, kind=ReviewKind.flagged):
    item = ReviewItem(
        submission_id=submission_of(db, learner).id,
        learner_id=learner.id,
        kind=kind,
        status=ReviewStatus.decided,
        level_number=1,
        unit_path="/",
        auto_score=60.0,
        auto_passed=False,
    )
    db.add(item)
    db.flush()
    db.add(
        Review(
            item_id=item.id,
            reviewer_id=reviewer.id,
            role="mentor",
            criteria=[],
            score=70.0,
            passed=True,
            feedback="Tốt.",
        )
    )
    db.flush()


def answered(db, helper, asker, *, accepted=False, hidden=False):
    question = Question(lesson_id=L1, user_id=asker.id, unit_path="/", body="Hỏi?")
    db.add(question)
    db.flush()
    db.add(
        Answer(
            question_id=question.id,
            user_id=helper.id,
            body="Đáp.",
            accepted=accepted,
            hidden=hidden,
        )
    )
    db.flush()


@pytest.fixture
def helper(db, tree, lessons):
    mentor = make_user(db, tree.ward, role=Role.mentor, name="Trần Văn Giúp")
    one, two, three, four = (
        make_user(db, tree.hamlet, name=f"Học Viên {n}") for n in ("Một", "Hai", "Ba", "Bốn")
    )
    reviewed(db, mentor, one)
    reviewed(db, mentor, one, ReviewKind.appeal)  # the same learner again
    reviewed(db, mentor, two)
    reviewed(db, two, mentor)  # helped by someone else: not the mentor's help
    answered(db, mentor, two, accepted=True)  # helped twice: counted once
    answered(db, mentor, three)
    answered(db, mentor, mentor)  # their own question
    answered(db, mentor, four, accepted=True, hidden=True)  # hidden by moderation
    event(db, mentor, 15, MONDAY)
    event(db, mentor, 10, MONDAY, "answer_accepted")
    event(db, mentor, 50, MONDAY, "lesson_complete")
    return mentor


def test_people_helped_are_distinct_and_never_oneself(db, helper):
    assert credit.people_helped(db, helper.id) == 3
    assert credit.summary(db, helper.id) == {
        "people_helped": 3,
        "reviews_done": 3,
        "answers_accepted": 1,
        "mentor_points": 25,
    }


def test_the_badges_page_shows_the_credit_of_mentors_and_helpers(client, db, tree, helper):
    assert page_login(client, helper).status_code == 303
    page = client.get("/badges").text
    assert "Đã giúp <strong>3 người</strong>" in page
    client.cookies.clear()
    learner = make_user(db, tree.hamlet, name="Chỉ Học")
    assert page_login(client, learner).status_code == 303
    assert "Giúp đỡ người khác" not in client.get("/badges").text
    client.cookies.clear()
    new_mentor = make_user(db, tree.hamlet, role=Role.mentor, name="Mới Hướng Dẫn")
    assert page_login(client, new_mentor).status_code == 303
    assert "Đã giúp <strong>0 người</strong>" in client.get("/badges").text


# ---- a unit's active mentors -------------------------------------------------------------------


def mentor_of(db, unit, *levels, status=MentorStatus.active, active=True):
    user = make_user(db, unit, role=Role.mentor, name="Người Hướng Dẫn")
    user.is_active = active
    for level in levels:
        db.add(Mentorship(user_id=user.id, level_number=level, status=status, unit_path=unit.path))
    db.flush()
    return user


def test_a_units_active_mentors_for_admins_in_scope(client, db, tree, lessons):
    mentor_of(db, tree.hamlet, 1, 2)  # two levels: one person
    mentor_of(db, tree.hamlet, 1)
    mentor_of(db, tree.ward, 1)
    mentor_of(db, tree.village, 2)
    mentor_of(db, tree.village, 1, status=MentorStatus.pending)
    mentor_of(db, tree.ward, 1, active=False)
    admin = make_user(db, tree.ward, role=Role.admin, name="Quản Trị Tỉnh")
    res = client.get(f"/api/v1/units/{tree.province.id}/mentors", headers=login(client, admin))
    assert res.status_code == 200
    assert res.json() == {
        "unit_id": tree.province.id,
        "active_mentors": 4,
        "by_child": [
            {"unit_id": tree.ward.id, "name": "Phường An Bình", "active_mentors": 3},
            {"unit_id": tree.commune.id, "name": "Xã Đồng Tâm", "active_mentors": 1},
        ],
    }
    commune_admin = login(client, make_user(db, tree.commune, role=Role.unit_admin, name="QT Xã"))
    mine = client.get(f"/api/v1/units/{tree.commune.id}/mentors", headers=commune_admin)
    assert mine.status_code == 200 and mine.json()["active_mentors"] == 1
    assert mine.json()["by_child"] == [
        {"unit_id": tree.village.id, "name": "Thôn Bản Lác", "active_mentors": 1}
    ]
    assert (
        client.get(f"/api/v1/units/{tree.ward.id}/mentors", headers=commune_admin).status_code
        == 403
    )
    assert (
        client.get(f"/api/v1/units/{tree.province.id}/mentors", headers=commune_admin).status_code
        == 403
    )
    learner = login(client, make_user(db, tree.ward, name="Học Viên"))
    assert client.get(f"/api/v1/units/{tree.ward.id}/mentors", headers=learner).status_code == 403
    assert (
        client.get("/api/v1/units/999999/mentors", headers=login(client, admin)).status_code == 404
    )
