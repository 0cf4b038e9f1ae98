"""Questions and answers under lessons: masking personal data, asking, answering, accepting
(points once), reports with automatic hiding, moderation scope, the audit log, notifications,
limits, and the pages without JavaScript."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.core.text import clean_post, mask_personal
from app.models import AuditLog, Notification, PointEvent, PostReport, Question, Role
from tests.factories import form_post, login, make_user, page_login
from tests.lessons import L1, L2, L3

QUESTION = "Em chưa hiểu AI khác gì với công cụ tìm kiếm Google ạ?"
ANSWER = "Google tìm trang có sẵn; AI viết ra câu trả lời mới, nên cần kiểm tra lại."

# ---- masking ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Gọi em số 0912345678 nhé",
        "SĐT: 0912 345 678",
        "sđt 0912.345.678",
        "zalo 0912-345-678",
        "số +84 912 345 678",
        "+84912345678",
        "(+84) 912.345.678",
        "84912345678",
        "+84 (0) 912 345 678",
        "máy bàn 024 3825 1234",
        "sđt0987654321",
        "CCCD 001203004567",
        "CCCD: 079 203 004 567",
        "CMND 123456789",
        "thư lan.nguyen@gmail.com",
        "thư Lan_Nguyen+ai@ubnd.hanoi.gov.vn",
        "viết lan @ gmail.com",
    ],
)
def test_personal_data_is_masked(text):
    masked, changed = mask_personal(text)
    assert changed and "[đã ẩn]" in masked
    assert not re.search(r"\d{3}", masked), masked  # no run of digits is left
    assert "@" not in masked


def test_two_phone_numbers_side_by_side_are_both_masked():
    masked, changed = mask_personal("0912345678 0987654321, hoặc 0912 345 678/0987.654.321")
    assert changed and masked == "[đã ẩn] [đã ẩn], hoặc [đã ẩn]/[đã ẩn]"


@pytest.mark.parametrize(
    "text",
    [
        "Bậc 2, bài 3",
        "Năm 2024 và năm 2025",
        "Giá 150.000 đồng, 1.500.000 đồng hoặc 150.000.000 đồng",
        "Mua 2 kg gạo giá 25.000đ",
        "Họp lúc 07:30 ngày 03/05/2024",
        "Ngày 03-05-2024 10 giờ sáng",
        "Lớp 10 11 12",
        "Tỉ lệ 0,5 và 0.75",
        "Dân số 12.345 người",
        "Hỏi AI @ChatGPT",
    ],
)
def test_ordinary_numbers_are_not_masked(text):
    assert mask_personal(text) == (text, False)


def test_clean_post_trims_and_collapses_whitespace():
    assert clean_post("  Xin\tchào   bạn \u00a0nhé \n\n\n\n Dòng hai\x00  ") == (
        "Xin chào bạn nhé\n\nDòng hai"
    )


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def asker(db, tree, lessons):
    return make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung", phone="+84912000111")


@pytest.fixture
def helper(db, tree, lessons):
    return make_user(db, tree.hamlet, name="Trần Văn Bình")


@pytest.fixture
def asker_h(client, asker):
    return login(client, asker)


@pytest.fixture
def helper_h(client, helper):
    return login(client, helper)


def ask(client, headers, body=QUESTION, lesson=L1):
    return client.post(f"/api/v1/lessons/{lesson}/questions", headers=headers, json={"body": body})


def reply(client, headers, question_id, body=ANSWER):
    return client.post(
        f"/api/v1/questions/{question_id}/answers", headers=headers, json={"body": body}
    )


def report(client, headers, post_id, post_type="question", reason="spam", note=""):
    return client.post(
        "/api/v1/reports",
        headers=headers,
        json={"post_type": post_type, "post_id": post_id, "reason": reason, "note": note},
    )


def points(db, user_id):
    return list(
        db.scalars(
            select(PointEvent).where(
                PointEvent.user_id == user_id, PointEvent.kind == "answer_accepted"
            )
        )
    )


def notes(db, user_id, kind):
    return list(
        db.scalars(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.kind == kind)
            .order_by(Notification.id)
        )
    )


def audits(db, action):
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


# ---- asking, answering, accepting --------------------------------------------------------------


def test_ask_answer_accept_awards_points_once(
    client, db, asker, helper, asker_h, helper_h, settings
):
    res = ask(client, asker_h, body=QUESTION + " Gọi em 0912 345 678 hoặc em@gmail.com")
    assert res.status_code == 201, res.text
    posted = res.json()
    assert posted["masked"] is True and "[đã ẩn]" in posted["notice"]
    question = posted["post"]
    assert "0912" not in question["body"] and "gmail" not in question["body"]
    assert question["body"].count("[đã ẩn]") == 2
    assert question["author"] == {"name": "Nhung", "role_label": ""}
    stored = db.get(Question, question["id"])
    assert "0912" not in stored.body and stored.unit_path.endswith("/")

    res = reply(client, helper_h, question["id"])
    assert res.status_code == 201 and res.json()["masked"] is False
    answer_id = res.json()["post"]["id"]
    second = reply(client, helper_h, question["id"], body="Một ý nữa: hỏi AI rõ ràng hơn.")
    assert second.status_code == 201
    qid, second_id = question["id"], second.json()["post"]["id"]
    assert [n.link for n in notes(db, asker.id, "answer")] == [
        f"/questions/{qid}#answer-{answer_id}",
        f"/questions/{qid}#answer-{second_id}",
    ]

    thread = client.get(f"/api/v1/questions/{question['id']}", headers=helper_h).json()
    assert thread["can_accept"] is False and thread["can_answer"] is True
    assert len(thread["answers"]) == 2 and thread["question"]["answers"] == 2
    assert client.get(f"/api/v1/questions/{question['id']}", headers=asker_h).json()["can_accept"]

    # only the asker accepts
    assert client.post(f"/api/v1/answers/{answer_id}/accept", headers=helper_h).status_code == 403
    res = client.post(f"/api/v1/answers/{answer_id}/accept", headers=asker_h)
    assert res.status_code == 200 and res.json()["accepted"] is True
    events = points(db, helper.id)
    assert [(e.points, e.idempotency_key) for e in events] == [
        (settings.points_answer_accepted, f"answer_accepted:{question['id']}")
    ]
    assert len(notes(db, helper.id, "answer_accepted")) == 1

    # final: a second accept (the same answer or another) is 409 and pays nothing
    for aid in (answer_id, second.json()["post"]["id"]):
        res = client.post(f"/api/v1/answers/{aid}/accept", headers=asker_h)
        assert res.status_code == 409 and res.json()["code"] == "already_accepted"
        assert "đã có câu trả lời được chấp nhận" in res.json()["detail"]
    assert len(points(db, helper.id)) == 1
    thread = client.get(f"/api/v1/questions/{question['id']}", headers=asker_h).json()
    assert thread["answers"][0]["id"] == answer_id and thread["answers"][0]["accepted"]
    assert thread["question"]["accepted"] and not thread["can_accept"]


def test_accepting_ones_own_answer_earns_nothing(client, db, asker, asker_h):
    qid = ask(client, asker_h).json()["post"]["id"]
    aid = reply(client, asker_h, qid, body="Em tự tìm ra rồi: AI viết câu mới.").json()["post"][
        "id"
    ]
    assert notes(db, asker.id, "answer") == []  # no notification to oneself
    res = client.post(f"/api/v1/answers/{aid}/accept", headers=asker_h)
    assert res.status_code == 200 and res.json()["accepted"]
    assert points(db, asker.id) == [] and notes(db, asker.id, "answer_accepted") == []


def test_mentors_are_shown_with_their_role_and_names_only(client, db, tree, asker_h, lessons):
    mentor = make_user(db, tree.ward, role=Role.mentor, name="Lê Thị Mai", email="mai@ubnd.vn")
    qid = ask(client, asker_h).json()["post"]["id"]
    reply(client, login(client, mentor), qid)
    res = client.get(f"/api/v1/questions/{qid}", headers=asker_h)
    assert res.json()["answers"][0]["author"] == {"name": "Mai", "role_label": "Người hướng dẫn"}
    assert "mai@ubnd.vn" not in res.text and "Lê Thị" not in res.text and "+849" not in res.text


def test_lessons_not_open_for_the_learner(client, asker_h):
    for lesson in (L2, L3):
        res = ask(client, asker_h, lesson=lesson)
        assert res.status_code == 403 and res.json()["code"] == "locked"
        assert client.get(f"/api/v1/lessons/{lesson}/questions", headers=asker_h).status_code == 403
    assert ask(client, asker_h, lesson="khong-co-bai-nay").status_code == 404
    assert client.get("/api/v1/questions/999999", headers=asker_h).status_code == 404
    assert reply(client, asker_h, 999999).status_code == 404
    assert client.post("/api/v1/answers/999999/accept", headers=asker_h).status_code == 404
    assert client.get(f"/api/v1/lessons/{L1}/questions").status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("ngắn", "Câu hỏi cần từ 10 đến 1000 ký tự (hiện có 4)."),
        ("     \n\n   a    ", "Câu hỏi cần từ 10 đến 1000 ký tự (hiện có 1)."),
        ("x" * 1001, "Câu hỏi cần từ 10 đến 1000 ký tự (hiện có 1001)."),
    ],
)
def test_question_length_is_checked_after_trimming(client, asker_h, body, message):
    res = ask(client, asker_h, body=body)
    assert res.status_code == 422 and res.json()["detail"] == message


def test_invalid_bodies_are_422_in_vietnamese(client, asker_h, helper_h):
    qid = ask(client, asker_h).json()["post"]["id"]
    res = reply(client, helper_h, qid, body=" ok ")
    assert res.status_code == 422 and "Câu trả lời cần từ 5 đến 2000 ký tự" in res.json()["detail"]
    res = client.post(f"/api/v1/lessons/{L1}/questions", headers=asker_h, json={})
    assert res.status_code == 422 and "Thiếu thông tin bắt buộc" in res.json()["detail"]
    res = report(client, helper_h, qid, reason="khong-thich")
    assert res.status_code == 422 and res.json()["detail"].startswith("Hãy chọn lý do báo cáo")
    res = report(client, helper_h, qid, note="x" * 301)
    assert res.status_code == 422 and res.json()["detail"] == "Ghi chú tối đa 300 ký tự."
    res = report(client, helper_h, qid, post_type="lesson")
    assert res.status_code == 422 and "chọn một trong" in res.json()["detail"]


def test_questions_and_answers_are_limited_per_day(client, asker_h, helper_h, app, monkeypatch):
    monkeypatch.setattr(app.state.settings, "questions_per_day", 2)
    monkeypatch.setattr(app.state.settings, "answers_per_day", 1)
    first = ask(client, asker_h).json()["post"]["id"]
    assert ask(client, asker_h).status_code == 201
    res = ask(client, asker_h)
    assert res.status_code == 429 and res.json()["code"] == "daily_limit"
    assert "Hôm nay bạn đã gửi đủ 2 câu hỏi" in res.json()["detail"]
    assert int(res.headers["Retry-After"]) > 0
    assert reply(client, helper_h, first).status_code == 201
    res = reply(client, helper_h, first)
    assert res.status_code == 429 and "1 câu trả lời" in res.json()["detail"]


# ---- reports and moderation -------------------------------------------------------------------


def test_reports_once_per_person_and_hide_at_the_threshold(
    client, db, tree, asker, asker_h, helper_h, app, monkeypatch
):
    monkeypatch.setattr(app.state.settings, "reports_to_hide", 2)
    qid = ask(client, asker_h).json()["post"]["id"]
    res = report(client, helper_h, qid, reason="misinformation", note="Gọi 0912345678 để biết")
    assert res.status_code == 201 and res.json()["hidden_now"] is False
    stored = db.scalar(select(PostReport).where(PostReport.post_id == qid))
    assert stored.note == "Gọi [đã ẩn] để biết"
    res = report(client, helper_h, qid, reason="spam")
    assert res.status_code == 409 and res.json()["code"] == "already_reported"
    res = report(client, asker_h, qid)
    assert res.status_code == 422 and "chính mình" in res.json()["detail"]
    assert report(client, helper_h, 999999).status_code == 404

    third = login(client, make_user(db, tree.village))
    res = report(client, third, qid, reason="abuse")
    assert res.status_code == 201 and res.json()["hidden_now"] is True
    question = db.get(Question, qid)
    db.refresh(question)
    assert question.hidden and question.hidden_by_id is None and question.reports == 2
    assert len(notes(db, asker.id, "post_hidden")) == 1
    assert [a.target_id for a in audits(db, "question.auto_hide")] == [str(qid)]

    # others see the notice, not the text, and not in the lesson's list
    thread = client.get(f"/api/v1/questions/{qid}", headers=helper_h).json()
    assert thread["question"]["redacted"] and thread["question"]["body"].startswith(
        "Nội dung đã bị ẩn: "
    )
    assert QUESTION not in str(thread) and thread["can_answer"] is False
    assert client.get(f"/api/v1/lessons/{L1}/questions", headers=helper_h).json()["total"] == 0
    res = reply(client, helper_h, qid)
    assert res.status_code == 409 and res.json()["code"] == "hidden"
    # its author still sees the text, with the reason
    mine = client.get(f"/api/v1/questions/{qid}", headers=asker_h).json()["question"]
    assert mine["body"] == QUESTION and mine["hidden"] and not mine["redacted"]
    assert "báo cáo" in mine["hidden_reason"]
    listed = client.get(f"/api/v1/lessons/{L1}/questions", headers=asker_h).json()
    assert listed["total"] == 1 and listed["items"][0]["hidden"]

    # first in the moderators' queue; a moderator confirms the hiding with a reason
    admin_user = make_user(db, tree.province, role=Role.admin)
    admin = login(client, admin_user)
    [item] = client.get("/api/v1/moderation", headers=admin).json()
    assert item["auto_hidden"] and item["post"]["id"] == qid and item["post"]["reports"] == 2
    res = client.post(f"/api/v1/questions/{qid}/hide", headers=admin, json={"reason": "Quảng cáo"})
    assert res.status_code == 200 and not res.json()["auto_hidden"]
    db.refresh(question)
    assert question.hidden_by_id == admin_user.id and question.reports == 0
    assert client.get("/api/v1/moderation", headers=admin).json() == []


@pytest.fixture
def staff(db, tree, lessons):
    """Moderators in and out of the hamlet's scope."""
    return {
        "mentor_ward": make_user(db, tree.ward, role=Role.mentor, name="Lê Văn Tâm"),
        "unit_admin_ward": make_user(db, tree.ward, role=Role.unit_admin),
        "admin": make_user(db, tree.province, role=Role.admin),
        "mentor_commune": make_user(db, tree.commune, role=Role.mentor),
        "unit_admin_commune": make_user(db, tree.commune, role=Role.unit_admin),
    }


def test_hide_and_unhide_follow_the_moderators_scope(
    client, db, asker, helper, asker_h, helper_h, staff
):
    qid = ask(client, asker_h).json()["post"]["id"]
    aid = reply(client, helper_h, qid).json()["post"]["id"]
    assert report(client, helper_h, qid).status_code == 201
    body = {"reason": "Câu hỏi trùng lặp"}
    for who in ("mentor_commune", "unit_admin_commune"):
        res = client.post(
            f"/api/v1/questions/{qid}/hide", headers=login(client, staff[who]), json=body
        )
        assert res.status_code == 403 and "ngoài phạm vi" in res.json()["detail"], who
    res = client.post(f"/api/v1/questions/{qid}/hide", headers=helper_h, json=body)
    assert res.status_code == 403

    mentor = login(client, staff["mentor_ward"])
    res = client.post(f"/api/v1/questions/{qid}/hide", headers=mentor, json={"reason": " "})
    assert res.status_code == 422 and "lý do" in res.json()["detail"]
    res = client.post(f"/api/v1/questions/{qid}/hide", headers=mentor, json=body)
    assert res.status_code == 200, res.text
    assert res.json()["hidden"] and res.json()["hidden_reason"] == "Câu hỏi trùng lặp"
    again = client.post(f"/api/v1/questions/{qid}/hide", headers=mentor, json=body)
    assert again.status_code == 409
    open_reports = db.scalar(
        select(func.count()).select_from(PostReport).where(PostReport.resolved_at.is_(None))
    )
    assert open_reports == 0 and db.get(Question, qid).reports == 0
    [hidden] = notes(db, asker.id, "post_hidden")
    assert "Câu hỏi trùng lặp" in hidden.body
    [entry] = audits(db, "question.hide")
    assert entry.actor_id == staff["mentor_ward"].id and entry.target_id == str(qid)
    assert entry.details["reason"] == "Câu hỏi trùng lặp" and entry.details["reports_resolved"] == 1
    shown = client.get(f"/api/v1/questions/{qid}", headers=helper_h).json()["question"]
    assert shown["body"] == "Nội dung đã bị ẩn: Câu hỏi trùng lặp"

    res = client.post(
        f"/api/v1/questions/{qid}/unhide", headers=login(client, staff["mentor_commune"]), json={}
    )
    assert res.status_code == 403
    res = client.post(f"/api/v1/questions/{qid}/unhide", headers=login(client, staff["admin"]))
    assert res.status_code == 200 and not res.json()["hidden"]
    assert (
        client.post(
            f"/api/v1/questions/{qid}/unhide", headers=login(client, staff["admin"])
        ).status_code
        == 409
    )
    [entry] = audits(db, "question.unhide")
    assert entry.actor_id == staff["admin"].id

    # answers: the question's scope
    admin_ward = login(client, staff["unit_admin_ward"])
    res = client.post(f"/api/v1/answers/{aid}/hide", headers=admin_ward, json=body)
    assert res.status_code == 200 and res.json()["hidden"]
    assert len(notes(db, helper.id, "post_hidden")) == 1 and audits(db, "answer.hide")
    res = client.post(
        f"/api/v1/answers/{aid}/unhide", headers=login(client, staff["unit_admin_commune"])
    )
    assert res.status_code == 403
    res = client.post(f"/api/v1/answers/{aid}/unhide", headers=admin_ward, json={"note": "Ổn"})
    assert res.status_code == 200 and audits(db, "answer.unhide")[0].details["note"] == "Ổn"


def test_hidden_answers_cannot_be_accepted(client, asker_h, helper_h, staff):
    qid = ask(client, asker_h).json()["post"]["id"]
    aid = reply(client, helper_h, qid).json()["post"]["id"]
    client.post(
        f"/api/v1/answers/{aid}/hide",
        headers=login(client, staff["admin"]),
        json={"reason": "Quảng cáo"},
    )
    res = client.post(f"/api/v1/answers/{aid}/accept", headers=asker_h)
    assert res.status_code == 409 and res.json()["code"] == "hidden"


def test_moderation_queue_is_scoped(client, db, asker_h, helper_h, staff):
    qid = ask(client, asker_h).json()["post"]["id"]
    aid = reply(client, helper_h, qid).json()["post"]["id"]
    report(client, helper_h, qid, reason="personal_data", note="Có số nhà")
    report(client, asker_h, aid, post_type="answer", reason="abuse")
    res = client.get("/api/v1/moderation", headers=login(client, staff["mentor_ward"]))
    assert res.status_code == 200
    items = {(i["post"]["type"], i["post"]["id"]): i for i in res.json()}
    assert set(items) == {("question", qid), ("answer", aid)}
    assert items[("question", qid)]["reasons"] == [{"reason": "Thông tin cá nhân", "count": 1}]
    assert items[("question", qid)]["notes"] == ["Có số nhà"]
    assert items[("question", qid)]["post"]["reports"] == 1
    # keeping a reported answer visible dismisses its reports and takes it off the queue
    mentor = login(client, staff["mentor_ward"])
    res = client.post(f"/api/v1/answers/{aid}/unhide", headers=mentor)
    assert res.status_code == 200 and not res.json()["hidden"] and res.json()["reports"] == 0
    assert audits(db, "answer.unhide")[0].details["was_hidden"] is False
    assert client.post(f"/api/v1/answers/{aid}/unhide", headers=mentor).status_code == 409
    queue = client.get("/api/v1/moderation", headers=mentor).json()
    assert [(i["post"]["type"], i["post"]["id"]) for i in queue] == [("question", qid)]
    res = client.get("/api/v1/moderation", headers=login(client, staff["mentor_commune"]))
    assert res.status_code == 200 and res.json() == []
    assert client.get("/api/v1/moderation", headers=helper_h).status_code == 403
    hidden = client.get(
        "/api/v1/moderation?state=hidden", headers=login(client, staff["admin"])
    ).json()
    assert hidden == []


# ---- pages ------------------------------------------------------------------------------------


def test_pages_ask_answer_accept_and_report(client, db, asker, helper, lessons):
    assert page_login(client, asker).status_code == 303
    page = client.get(f"/lessons/{L1}")
    assert page.status_code == 200 and "Hỏi đáp" in page.text
    assert f'action="/lessons/{L1}/questions"' in page.text
    page = client.get(f"/lessons/{L1}/questions")
    assert page.status_code == 200 and "Chưa có câu hỏi nào." in page.text

    res = form_post(client, f"/lessons/{L1}/questions", {"body": "ngắn"}, follow_redirects=False)
    assert res.status_code == 422 and "Câu hỏi cần từ 10 đến 1000 ký tự" in res.text
    assert ">ngắn</textarea>" in res.text
    res = form_post(
        client,
        f"/lessons/{L1}/questions",
        {"body": QUESTION + " Số em: 0912.345.678"},
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    location = res.headers["location"]
    assert re.fullmatch(r"/questions/\d+\?done=asked&done=masked", location)
    qid = int(location.split("/")[2].split("?")[0])
    page = client.get(location)
    assert page.status_code == 200
    assert "[đã ẩn]" in page.text and "0912.345.678" not in page.text
    assert "đã được thay bằng “[đã ẩn]”" in page.text
    assert "Nhung" in page.text and "Nguyễn Thị Hồng" not in page.text
    lesson_page = client.get(f"/lessons/{L1}").text
    assert f'href="/questions/{qid}"' in lesson_page and "Xem tất cả 1 câu hỏi" in lesson_page

    client.cookies.clear()
    assert page_login(client, helper).status_code == 303
    assert client.get(f"/questions/{qid}").status_code == 200
    res = form_post(client, f"/questions/{qid}/answers", {"body": "x"}, follow_redirects=False)
    assert res.status_code == 422 and "Câu trả lời cần từ 5 đến 2000 ký tự" in res.text
    res = form_post(client, f"/questions/{qid}/answers", {"body": ANSWER}, follow_redirects=False)
    assert res.status_code == 303 and "done=answered" in res.headers["location"]
    aid = int(res.headers["location"].rsplit("#answer-", 1)[1])
    res = form_post(
        client,
        "/reports",
        {"post_type": "question", "post_id": str(qid), "reason": "spam"},
        follow_redirects=False,
    )
    assert res.status_code == 303 and res.headers["location"] == f"/questions/{qid}?done=reported"
    res = form_post(
        client, "/reports", {"post_type": "question", "post_id": str(qid), "reason": "spam"}
    )
    assert res.status_code == 409 and "Bạn đã báo cáo bài viết này rồi" in res.text
    assert client.post(f"/answers/{aid}/accept", data={}).status_code == 403  # no CSRF token

    client.cookies.clear()
    assert page_login(client, asker).status_code == 303
    page = client.get(f"/questions/{qid}")
    assert f'action="/answers/{aid}/accept"' in page.text
    res = form_post(client, f"/answers/{aid}/accept", follow_redirects=False)
    assert res.status_code == 303 and "done=accepted" in res.headers["location"]
    assert len(points(db, helper.id)) == 1
    page = client.get(f"/questions/{qid}")
    assert (
        "Được người hỏi chấp nhận" in page.text
        and 'action="/answers/' not in page.text.split("accept")[0]
    )


def test_moderation_pages(client, db, tree, asker, asker_h, helper_h, staff):
    qid = ask(client, asker_h).json()["post"]["id"]
    report(client, helper_h, qid, reason="abuse", note="Lời lẽ khó nghe")
    assert page_login(client, staff["mentor_ward"]).status_code == 303
    page = client.get("/mentor/moderation")
    assert page.status_code == 200
    assert "Kiểm duyệt hỏi đáp" in page.text and "Xúc phạm (1)" in page.text
    assert "Lời lẽ khó nghe" in page.text and QUESTION in page.text
    res = form_post(
        client,
        f"/questions/{qid}/hide",
        {"reason": "Không phù hợp", "next": "/mentor/moderation"},
        follow_redirects=False,
    )
    assert res.status_code == 303 and res.headers["location"] == "/mentor/moderation?done=hidden"
    res = form_post(client, f"/questions/{qid}/hide", {"reason": "Không phù hợp"})
    assert res.status_code == 409 and "Bài viết này đã bị ẩn" in res.text
    page = client.get("/mentor/moderation?state=hidden")
    assert "Không phù hợp" in page.text and f"/questions/{qid}/unhide" in page.text
    res = form_post(client, f"/questions/{qid}/unhide", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == f"/questions/{qid}?done=shown"
    assert audits(db, "question.hide") and audits(db, "question.unhide")

    client.cookies.clear()
    assert page_login(client, staff["mentor_commune"]).status_code == 303
    res = form_post(client, f"/questions/{qid}/hide", {"reason": "Không phù hợp"})
    assert res.status_code == 403
    client.cookies.clear()
    assert page_login(client, asker).status_code == 303
    assert client.get("/mentor/moderation").status_code == 403
