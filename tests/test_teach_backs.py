"""Teach-backs featured under their lesson: the author's consent (given when sending,
withdrawn later), who may feature, points paid once, and the section under the lesson."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from app.core.text import given_name
from app.mentoring import teach_backs
from app.models import (
    AuditLog,
    FeaturedTeachBack,
    Mentorship,
    MentorStatus,
    Notification,
    PointEvent,
    Role,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)
from tests.factories import form_post, graded_submission, login, make_user, page_login
from tests.lessons import GOOD_TEXT, L1, L2, L3

TEACH_TEXT = (
    "AI giống như một người trợ lý rất chăm chỉ: bạn hỏi rõ thì nó trả lời rõ.\n"
    "Nhưng nó có thể nói sai, nên mình luôn kiểm tra lại trước khi dùng."
)


def make_mentor(db, unit, *levels, name="Trần Văn Minh"):
    user = make_user(db, unit, role=Role.mentor, name=name)
    for level in levels:
        db.add(
            Mentorship(
                user_id=user.id, level_number=level, status=MentorStatus.active, unit_path=unit.path
            )
        )
    db.flush()
    return user


def teach_back(
    db,
    user,
    *,
    lesson=L1,
    score=90.0,
    passed=True,
    consent=True,
    status=SubmissionStatus.graded,
    text=TEACH_TEXT,
):
    """A graded teach-back as the grading worker leaves it."""
    return graded_submission(
        db,
        user,
        lesson,
        kind=SubmissionKind.teach_back,
        score=score,
        passed=passed,
        text=text,
        status=status,
        share_consent=consent,
        day=date(2026, 11, 16),
    )


def featured_points(db, user):
    return db.scalar(
        select(func.coalesce(func.sum(PointEvent.points), 0)).where(
            PointEvent.user_id == user.id, PointEvent.kind == "teach_back_featured"
        )
    )


@pytest.fixture
def author(db, tree, lessons):
    return make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung")


@pytest.fixture
def mentor(db, tree, lessons):
    return make_mentor(db, tree.ward, 1)


def feature(client, headers, submission_id, action="feature"):
    return client.post(f"/api/v1/mentor/teach-backs/{submission_id}/{action}", headers=headers)


# ---- consent when sending ------------------------------------------------------------------


def test_the_consent_is_taken_from_the_teach_back_form_only(client, db, author):
    headers = login(client, author)

    def send(kind, consent):
        data = {"text": GOOD_TEXT, "client_id": uuid.uuid4().hex, "kind": kind}
        if consent is not None:
            data["share_consent"] = consent
        res = client.post(f"/api/v1/lessons/{L1}/submissions", headers=headers, data=data)
        assert res.status_code == 201, res.text
        return res.json()

    agreed = send("teach_back", "true")
    assert agreed["share_consent"] is True
    assert db.get(Submission, agreed["id"]).share_consent is True
    assert send("teach_back", None)["share_consent"] is False  # not ticked: no consent
    assert send("challenge", "true")["share_consent"] is False  # only teach-backs are shared


def test_the_lesson_page_asks_for_consent_on_the_teach_back_form(client, db, author):
    assert page_login(client, author).status_code == 303
    page = client.get(f"/lessons/{L1}")
    assert page.status_code == 200
    assert page.text.count('name="share_consent"') == 1
    assert "chỉ hiện tên gọi của tôi" in page.text
    res = form_post(
        client,
        f"/lessons/{L1}/submit",
        {
            "text": GOOD_TEXT,
            "client_id": uuid.uuid4().hex,
            "kind": "teach_back",
            "share_consent": "true",
        },
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    sent = db.scalar(select(Submission).where(Submission.user_id == author.id))
    assert sent.kind == SubmissionKind.teach_back and sent.share_consent is True


# ---- featuring -----------------------------------------------------------------------------


def test_featuring_needs_the_authors_consent_and_a_good_grade(client, db, author, mentor):
    headers = login(client, mentor)
    no_consent = teach_back(db, author, consent=False)
    res = feature(client, headers, no_consent.id)
    assert res.status_code == 409 and res.json()["code"] == "no_consent"
    for weak in (
        teach_back(db, author, score=75.0),
        teach_back(db, author, score=85.0, passed=False),
        teach_back(db, author, status=SubmissionStatus.queued),
    ):
        res = feature(client, headers, weak.id)
        assert res.status_code == 409 and res.json()["code"] == "not_eligible"
    assert db.scalar(select(func.count()).select_from(FeaturedTeachBack)) == 0
    assert feature(client, headers, 999_999).status_code == 404


def test_featuring_pays_the_author_once_and_tells_them(client, db, author, mentor, settings):
    headers = login(client, mentor)
    sub = teach_back(db, author)
    first = feature(client, headers, sub.id)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "submission_id": sub.id,
        "lesson_id": L1,
        "featured": True,
        "points_awarded": settings.points_teach_back_featured,
    }
    assert feature(client, headers, sub.id).json()["code"] == "already_featured"
    assert feature(client, headers, sub.id, "unfeature").json()["featured"] is False
    assert feature(client, headers, sub.id, "unfeature").json()["code"] == "not_featured"
    again = feature(client, headers, sub.id)
    assert again.status_code == 200 and again.json()["points_awarded"] == 0
    # feature, unfeature, feature: the points once, kept when taken down
    assert featured_points(db, author) == settings.points_teach_back_featured
    assert (
        db.scalar(
            select(func.count()).select_from(PointEvent).where(PointEvent.user_id == author.id)
        )
        == 1
    )
    actions = db.scalars(
        select(AuditLog.action).where(AuditLog.target_id == str(sub.id)).order_by(AuditLog.id)
    ).all()
    assert actions == ["teach_back.feature", "teach_back.unfeature", "teach_back.feature"]
    notes = db.scalars(
        select(Notification).where(
            Notification.user_id == author.id, Notification.kind == "teach_back_featured"
        )
    ).all()
    assert notes and notes[0].link == f"/lessons/{L1}#featured"
    row = db.scalar(select(FeaturedTeachBack).where(FeaturedTeachBack.submission_id == sub.id))
    assert row.featured_by_id == mentor.id and row.lesson_id == L1


def test_only_mentors_of_the_level_over_the_author_or_admins_may_feature(
    client, db, tree, author, mentor
):
    sub = teach_back(db, author)
    outsiders = [
        make_mentor(db, tree.ward, 2, name="Lê Văn Hai"),  # another level
        make_mentor(db, tree.commune, 1, name="Phạm Thị Ba"),  # another commune
        make_mentor(db, tree.hamlet, name="Đỗ Văn Bốn"),  # no active mentorship
        make_user(db, tree.ward, name="Học Viên Năm"),  # a learner
        make_user(db, tree.commune, role=Role.unit_admin, name="Quản Trị Xã"),
    ]
    for user in outsiders:
        assert feature(client, login(client, user), sub.id).status_code == 403, user.full_name
    # the author cannot feature their own teach-back, even as a mentor of the level
    own = make_mentor(db, tree.hamlet, 1, name="Tự Giới Thiệu")
    own_sub = teach_back(db, own)
    res = feature(client, login(client, own), own_sub.id)
    assert res.status_code == 403 and res.json()["code"] == "own_teach_back"
    assert db.scalar(select(func.count()).select_from(FeaturedTeachBack)) == 0

    ward_admin = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    assert feature(client, login(client, ward_admin), sub.id).status_code == 200
    admin = make_user(db, tree.commune, role=Role.admin, name="Quản Trị Tỉnh")
    assert feature(client, login(client, admin), sub.id, "unfeature").status_code == 200
    assert feature(client, login(client, mentor), sub.id).status_code == 200


def test_withdrawing_consent_takes_it_down(client, db, author, mentor, tree):
    sub = teach_back(db, author)
    mentor_headers = login(client, mentor)
    assert feature(client, mentor_headers, sub.id).status_code == 200
    headers = login(client, author)
    stranger = login(client, make_user(db, tree.hamlet, name="Người Lạ"))
    body = {"share_consent": False}
    assert (
        client.post(
            f"/api/v1/submissions/{sub.id}/consent", headers=stranger, json=body
        ).status_code
        == 404
    )
    res = client.post(f"/api/v1/submissions/{sub.id}/consent", headers=headers, json=body)
    assert res.status_code == 200
    assert res.json() == {"submission_id": sub.id, "share_consent": False, "featured": False}
    db.expire_all()
    assert db.get(Submission, sub.id).share_consent is False
    assert db.scalar(select(func.count()).select_from(FeaturedTeachBack)) == 0
    assert db.scalar(select(AuditLog).where(AuditLog.action == "teach_back.withdraw")) is not None
    assert feature(client, mentor_headers, sub.id).json()["code"] == "no_consent"
    # consent given again: a candidate again
    res = client.post(
        f"/api/v1/submissions/{sub.id}/consent", headers=headers, json={"share_consent": True}
    )
    assert res.json()["share_consent"] is True
    listed = client.get("/api/v1/mentor/teach-backs", headers=mentor_headers).json()
    assert [c["submission_id"] for c in listed[0]["candidates"]] == [sub.id]


def test_withdrawing_from_the_page(client, db, author, mentor):
    sub = teach_back(db, author)
    assert feature(client, login(client, mentor), sub.id).status_code == 200
    assert page_login(client, author).status_code == 303
    mine = client.get("/me/teach-backs")
    assert mine.status_code == 200 and "Đang được giới thiệu" in mine.text
    lesson_page = client.get(f"/lessons/{L1}")
    assert "Rút lại đồng ý và gỡ bài" in lesson_page.text
    res = form_post(
        client, f"/submissions/{sub.id}/consent", {"share_consent": "false"}, follow_redirects=False
    )
    assert res.status_code == 303 and res.headers["location"] == "/me/teach-backs?done=withdrawn"
    db.expire_all()
    assert db.get(Submission, sub.id).share_consent is False
    assert db.scalar(select(func.count()).select_from(FeaturedTeachBack)) == 0
    assert "Bạn chưa đồng ý chia sẻ" in client.get("/me/teach-backs?done=withdrawn").text


# ---- what the lesson shows -------------------------------------------------------------------


def test_the_lesson_shows_the_best_few_with_given_names_and_masked_text(
    client, db, tree, author, settings, monkeypatch
):
    monkeypatch.setattr(settings, "featured_per_lesson", 3)
    names = ["Lê Thị Lan", "Phạm Văn Hùng", "Võ Thị Mai", "Đặng Văn Tùng"]
    scores = [85.0, 95.0, 90.0, 88.0]
    subs = []
    for i, (name, score) in enumerate(zip(names, scores, strict=True)):
        person = make_user(db, tree.hamlet, name=name)
        text = f"{TEACH_TEXT}\nGọi tôi: 0912 345 678 <b>đậm</b> (bài {i})"
        subs.append(teach_back(db, person, score=score, text=text))
    hidden = teach_back(db, make_user(db, tree.hamlet, name="Bùi Văn Ẩn"), score=99.0)
    for sub in [*subs, hidden]:
        db.add(FeaturedTeachBack(submission_id=sub.id, lesson_id=L1))
    hidden.share_consent = False  # withdrawn behind the service's back: still never shown
    db.flush()

    shown = teach_backs.featured_for_lesson(db, lesson_id=L1, settings=settings)
    assert [(f.author, f.score) for f in shown] == [("Hùng", 95.0), ("Mai", 90.0), ("Tùng", 88.0)]
    assert all("0912" not in f.text and "[đã ẩn]" in f.text for f in shown)

    headers = login(client, author)
    api = client.get(f"/api/v1/lessons/{L1}/teach-backs", headers=headers)
    assert api.status_code == 200
    assert [f["author"] for f in api.json()] == ["Hùng", "Mai", "Tùng"]
    assert client.get(f"/api/v1/lessons/{L3}/teach-backs", headers=headers).status_code == 403
    assert client.get(f"/api/v1/lessons/{L2}/teach-backs", headers=headers).status_code == 403

    assert page_login(client, author).status_code == 303
    page = client.get(f"/lessons/{L1}").text
    assert "Giải thích từ cộng đồng" in page
    section = page[page.index('id="featured"') :]
    assert section.index("Hùng") < section.index("Mai") < section.index("Tùng")
    for full in ("Phạm Văn Hùng", "Võ Thị Mai", "Đặng Văn Tùng", "Lê Thị Lan", "Ẩn"):
        assert full not in page
    assert "&lt;b&gt;đậm&lt;/b&gt;" in page and "<b>đậm</b>" not in page
    assert "0912 345 678" not in section


def test_the_section_is_absent_without_featured_teach_backs(client, author):
    assert page_login(client, author).status_code == 303
    assert "Giải thích từ cộng đồng" not in client.get(f"/lessons/{L1}").text


# ---- the mentors' list -----------------------------------------------------------------------


def test_the_mentor_sees_the_best_candidate_per_author_in_scope(client, db, tree, author, mentor):
    best = teach_back(db, author, score=92.0)
    teach_back(db, author, score=86.0)  # the same author's weaker one
    other = make_user(db, tree.ward, name="Lý Văn Sáu")
    second = teach_back(db, other, score=84.0)
    teach_back(db, other, score=79.0, lesson=L2)  # below the bar
    teach_back(db, other, consent=False, lesson=L2)
    teach_back(db, make_user(db, tree.village, name="Ở Xã Khác"), score=99.0)  # out of scope
    teach_back(db, make_user(db, tree.hamlet, name="Bậc Hai"), lesson=L3)  # another level
    headers = login(client, mentor)

    listed = client.get("/api/v1/mentor/teach-backs", headers=headers).json()
    assert [(x["lesson_id"], x["featured_total"]) for x in listed] == [(L1, 0)]
    assert [c["submission_id"] for c in listed[0]["candidates"]] == [best.id, second.id]
    assert listed[0]["candidates"][0]["author"] == "Nhung"

    assert feature(client, headers, best.id).status_code == 200
    listed = client.get("/api/v1/mentor/teach-backs", headers=headers).json()
    assert [c["submission_id"] for c in listed[0]["featured"]] == [best.id]
    # the author is featured on the lesson now: their other teach-back is no candidate
    assert [c["submission_id"] for c in listed[0]["candidates"]] == [second.id]
    assert listed[0]["featured_total"] == 1

    learner = login(client, author)
    assert client.get("/api/v1/mentor/teach-backs", headers=learner).status_code == 403
    no_levels = make_mentor(db, tree.ward, name="Đã Thôi")
    res = client.get("/api/v1/mentor/teach-backs", headers=login(client, no_levels))
    assert res.status_code == 403 and res.json()["code"] == "not_mentor"
    admin = make_user(db, tree.commune, role=Role.admin, name="Quản Trị")
    everything = client.get("/api/v1/mentor/teach-backs?level=2", headers=login(client, admin))
    assert [x["lesson_id"] for x in everything.json()] == [L3]


def test_the_mentor_page_features_and_takes_down(client, db, author, mentor):
    sub = teach_back(db, author)
    assert page_login(client, mentor).status_code == 303
    page = client.get("/mentor/teach-backs")
    assert page.status_code == 200
    assert "Giới thiệu bài này" in page.text and "Nhung" in page.text
    res = form_post(client, f"/mentor/teach-backs/{sub.id}/feature", follow_redirects=False)
    assert res.status_code == 303
    assert res.headers["location"] == f"/mentor/teach-backs?done=featured#lesson-{L1}"
    page = client.get(res.headers["location"])
    assert "Đã giới thiệu bài giảng lại" in page.text and "Gỡ khỏi trang bài học" in page.text
    twice = form_post(client, f"/mentor/teach-backs/{sub.id}/feature")
    assert twice.status_code == 409 and "đã được giới thiệu" in twice.text
    res = form_post(client, f"/mentor/teach-backs/{sub.id}/unfeature", follow_redirects=False)
    assert res.status_code == 303
    assert db.scalar(select(func.count()).select_from(FeaturedTeachBack)) == 0
    assert client.get("/mentor/teach-backs?level=9").status_code == 400


def test_a_learner_cannot_open_the_mentor_page(client, author):
    assert page_login(client, author).status_code == 303
    assert client.get("/mentor/teach-backs").status_code == 403


def test_given_name_is_the_last_word():
    assert given_name("Nguyễn Thị Hồng Nhung") == "Nhung"
    assert given_name("  Minh ") == "Minh"
    assert given_name("") == ""
