"""The learner's pages without JavaScript: Hôm nay, the level map, a lesson with its quiz and
challenge as plain form posts, progress."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.models import QuizAttempt, Role, Submission
from tests.factories import form_post, make_user, page_login
from tests.lessons import GOOD_TEXT, L1, L2, L3, right_answers, wrong


@pytest.fixture
def learner(db, tree, lessons):
    return make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung")


@pytest.fixture
def signed_in(client, learner):
    assert page_login(client, learner).status_code == 303
    return client


def test_home_shows_todays_lesson_goal_streak_points_and_rank(signed_in):
    page = signed_in.get("/")
    assert page.status_code == 200
    text = page.text
    assert "Bài học hôm nay" in text and "AI là gì và không là gì" in text
    assert f'href="/lessons/{L1}"' in text and "Bắt đầu học" in text
    assert "0/15 phút" in text and "0 ngày" in text and "0 điểm" in text
    assert "Chưa có hạng" in text and "Tổ dân phố số 1" in text  # no points yet: no rank


def test_level_map_marks_open_and_locked_lessons(signed_in):
    page = signed_in.get("/levels").text
    assert f'<a class="lesson-row" href="/lessons/{L1}">' in page
    assert f'href="/lessons/{L2}"' not in page and f'href="/lessons/{L3}"' not in page
    assert page.count("Chưa mở") >= 3  # lesson 2, level 2 and its lesson


def test_a_locked_lesson_page_is_403_in_vietnamese(signed_in):
    res = signed_in.get(f"/lessons/{L2}")
    assert res.status_code == 403 and "Bài này chưa mở" in res.text


def test_the_lesson_page_carries_no_answers(signed_in, db):
    page = signed_in.get(f"/lessons/{L1}")
    assert page.status_code == 200
    text = page.text
    assert "1. Đọc bài" in text and "2. Trắc nghiệm" in text and "3. Thử thách hôm nay" in text
    assert "<strong>AI</strong> là viết tắt của" in text  # the Markdown body, rendered
    assert 'data-read-aloud="lesson-text"' in text
    attempt = db.scalar(select(QuizAttempt).order_by(QuizAttempt.id.desc()))
    assert f'name="attempt_id" value="{attempt.id}"' in text
    assert "đáp án đúng" not in text and "Chưa đúng." not in text
    for explanation in ("AI là Artificial Intelligence, tiếng Việt gọi là trí tuệ nhân tạo.",):
        assert explanation not in text


def _quiz_form(page_text: str, answers: dict) -> dict:
    attempt = re.search(r'name="attempt_id" value="(\d+)"', page_text).group(1)
    data: dict = {"attempt_id": attempt}
    for qid, answer in answers.items():
        if isinstance(answer, bool):
            data[f"a_{qid}"] = "true" if answer else "false"
        elif isinstance(answer, list):
            data[f"a_{qid}"] = [str(x) for x in answer]
            data[f"m_{qid}"] = "1"
        else:
            data[f"a_{qid}"] = str(answer)
    return data


def test_the_quiz_works_as_a_plain_form(signed_in, db):
    page = signed_in.get(f"/lessons/{L1}").text
    attempt = db.scalar(select(QuizAttempt).order_by(QuizAttempt.id.desc()))
    answers = right_answers(db, attempt.id)
    first = attempt.questions[0]["id"]
    answers[first] = wrong(answers[first])
    res = form_post(
        signed_in, f"/lessons/{L1}/quiz", _quiz_form(page, answers), follow_redirects=False
    )
    assert res.status_code == 303
    assert res.headers["location"] == f"/lessons/{L1}?quiz={attempt.id}#quiz"
    result = signed_in.get(res.headers["location"].split("#")[0]).text
    assert "Đúng 3/4 câu (75%)" in result and "Đạt!" in result
    assert result.count("Chưa đúng.") == 1 and result.count("<strong>Đúng.</strong>") == 3


def test_an_unanswered_question_re_shows_the_page(signed_in, db):
    page = signed_in.get(f"/lessons/{L1}").text
    attempt = db.scalar(select(QuizAttempt).order_by(QuizAttempt.id.desc()))
    answers = right_answers(db, attempt.id)
    answers.pop(attempt.questions[2]["id"])
    res = form_post(signed_in, f"/lessons/{L1}/quiz", _quiz_form(page, answers))
    assert res.status_code == 422 and "Câu 3: chưa trả lời." in res.text


def test_a_challenge_sent_as_a_form_waits_for_grading(signed_in, db):
    page = signed_in.get(f"/lessons/{L1}").text
    client_id = re.search(r'name="client_id" value="([0-9a-f]+)"', page).group(1)
    data = {"kind": "challenge", "client_id": client_id, "text": GOOD_TEXT}
    res = form_post(signed_in, f"/lessons/{L1}/submit", data, follow_redirects=False)
    assert res.status_code == 303
    sid = db.scalar(select(Submission.id))
    assert res.headers["location"] == f"/lessons/{L1}?sent={sid}#challenge"
    after = signed_in.get(f"/lessons/{L1}").text
    assert f'data-submission-id="{sid}" data-status="queued"' in after
    assert "Đang chấm…" in after and "còn gửi được 2 lần" in after
    again = form_post(signed_in, f"/lessons/{L1}/submit", data, follow_redirects=False)
    assert again.status_code == 303 and len(db.scalars(select(Submission.id)).all()) == 1
    short = form_post(
        signed_in, f"/lessons/{L1}/submit", {**data, "client_id": "khac-0001", "text": "ngắn"}
    )
    assert short.status_code == 422 and "Bài làm còn quá ngắn" in short.text
    assert "ngắn</textarea>" in short.text  # the learner's words are kept


def test_progress_page(signed_in):
    page = signed_in.get("/progress")
    assert page.status_code == 200
    assert "Tiến độ của tôi" in page.text and "Bậc 1: Làm quen với AI" in page.text
    assert "Chưa có ngày học nào" in page.text


def test_an_admin_opens_a_level_from_the_account_page(client, db, tree, learner):
    admin = make_user(db, tree.province, role=Role.admin, email="qt@example.vn")
    page_login(client, admin)
    page = client.get(f"/admin/accounts/{learner.id}").text
    assert "Mở khóa bậc học" in page and '<option value="2">' in page
    res = form_post(
        client, f"/admin/accounts/{learner.id}/unlock", {"level": "2"}, follow_redirects=False
    )
    assert res.status_code == 303
    assert "Đã mở sớm: Bậc 2" in client.get(res.headers["location"]).text
