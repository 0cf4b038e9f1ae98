"""A learner's day through the JSON API: today, quizzes, submissions, progress, unlocking."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from app.core.security import make_token
from app.learning import progress
from app.models import (
    LessonProgress,
    PointEvent,
    QuizAttempt,
    Role,
    Submission,
    SubmissionStatus,
)
from tests.factories import login, make_user
from tests.lessons import GOOD_TEXT, L1, L2, L3, right_answers, wrong


@pytest.fixture
def learner(db, tree, lessons):
    return make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung")


@pytest.fixture
def headers(client, learner):
    return login(client, learner)


def draw(client, headers, lesson=L1):
    res = client.get(f"/api/v1/lessons/{lesson}/quiz", headers=headers)
    assert res.status_code == 200, res.text
    return res.json()


def send(client, headers, lesson=L1, text=GOOD_TEXT, kind="challenge", client_id=None, **files):
    data = {"text": text, "client_id": client_id or uuid.uuid4().hex, "kind": kind}
    return client.post(
        f"/api/v1/lessons/{lesson}/submissions", headers=headers, data=data, files=files or None
    )


def png(width=64, height=48, **info) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 60)).save(out, "PNG", **info)
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (2400, 1800), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "Điện thoại của tôi"  # Make
    exif[0x0112] = 6  # orientation: rotated
    exif[0x8825] = {1: "N", 2: (21.0, 35.0, 0.0)}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def grade(db, settings, submission_id: int, score: float, passed: bool) -> None:
    """What the grading worker will do (the grading issue): store a grade and record it."""
    submission = db.get(Submission, submission_id)
    submission.status = SubmissionStatus.graded
    submission.score, submission.passed = score, passed
    submission.result = {
        "criteria": [{"id": "cau_lenh", "score": 3, "comment": "Rõ ràng."}],
        "feedback": "Làm tốt.",
    }
    submission.grader = "test"
    submission.graded_at = datetime.now(UTC)
    progress.record_grade(
        db,
        user_id=submission.user_id,
        lesson_id=submission.lesson_id,
        kind=submission.kind,
        score=score,
        passed=passed,
        submission_id=submission.id,
        ref=f"test{submission.id}",
        settings=settings,
        now=datetime.now(UTC),
    )
    db.flush()


# ---- today and the path -------------------------------------------------------------------


def test_a_new_learner_starts_with_the_first_lesson(client, headers):
    res = client.get("/api/v1/me/today", headers=headers)
    assert res.status_code == 200
    body = res.json()
    assert body["lesson"] == {
        "id": L1,
        "title": "AI là gì và không là gì",
        "level": 1,
        "level_title": "Làm quen với AI",
        "position": 1,
        "level_lessons": 2,
        "minutes": 14,
        "status": "new",
    }
    assert (body["streak"], body["points"]) == (0, 0)
    assert body["goal"] == {"active_minutes": 0, "goal_minutes": 15, "percent": 0, "met": False}
    assert body["rank"] == {"rank": None, "of": 0, "unit": "Tổ dân phố số 1"}


def test_locked_lessons_answer_403_locked(client, headers):
    for lesson in (L2, L3):
        res = client.get(f"/api/v1/lessons/{lesson}/quiz", headers=headers)
        assert res.status_code == 403
        assert res.json()["code"] == "locked"
        assert "chưa mở" in res.json()["detail"]
        assert send(client, headers, lesson=lesson).status_code == 403
    assert client.get("/api/v1/lessons/b9-khong-co/quiz", headers=headers).status_code == 404


def test_expired_or_missing_session_is_401(client, learner, settings):
    token, _ = make_token(
        secret=settings.secret_key,
        user_id=learner.id,
        session_id="x",
        token_type="access",
        lifetime=timedelta(minutes=15),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    expired = {"Authorization": f"Bearer {token}"}
    res = client.get("/api/v1/me/today", headers=expired)
    assert res.status_code == 401 and res.json()["code"] == "token_expired"
    assert res.json()["detail"] == "Phiên đăng nhập đã hết hạn."
    assert send(client, expired).status_code == 401
    assert client.post("/api/v1/me/heartbeat", json={"lesson_id": L1}).status_code == 401


# ---- the quiz -------------------------------------------------------------------------------


def test_a_draw_shows_questions_without_answers(client, headers, db):
    quiz = draw(client, headers)
    assert len(quiz["questions"]) == 4 and quiz["pass_mark"] == 75
    assert draw(client, headers)["attempt_id"] == quiz["attempt_id"]  # the same open draw
    attempt = db.get(QuizAttempt, quiz["attempt_id"])
    for shown, stored in zip(quiz["questions"], attempt.questions, strict=True):
        assert shown["id"] == stored["id"]
        if shown["kind"] != "true_false":
            assert sorted(stored["order"]) == list(range(len(shown["options"])))
    raw = client.get(f"/api/v1/lessons/{L1}/quiz", headers=headers).text
    assert "correct" not in raw and "explanation" not in raw and '"answer"' not in raw


def test_one_wrong_answer_and_the_rest_right(client, headers, db, learner):
    quiz = draw(client, headers)
    answers = right_answers(db, quiz["attempt_id"])
    first = quiz["questions"][0]["id"]
    answers[first] = wrong(answers[first])
    res = client.post(
        f"/api/v1/lessons/{L1}/quiz-attempts",
        headers=headers,
        json={"attempt_id": quiz["attempt_id"], "answers": answers},
    )
    assert res.status_code == 200, res.text
    result = res.json()
    assert (result["correct"], result["total"], result["percent"]) == (3, 4, 75)
    assert result["passed"] is True and result["lesson_completed"] is False
    assert [q["correct"] for q in result["questions"]] == [False, True, True, True]
    assert all(q["explanation"] for q in result["questions"])
    assert result["questions"][0]["right"] != result["questions"][0]["given"]
    points = db.scalars(select(PointEvent).where(PointEvent.user_id == learner.id)).all()
    assert [(p.kind, p.points) for p in points] == [("quiz_pass", 10)]
    assert draw(client, headers)["attempt_id"] != quiz["attempt_id"]  # a fresh draw next


def test_answering_twice_is_409_and_points_count_once(client, headers, db, learner):
    quiz = draw(client, headers)
    body = {"attempt_id": quiz["attempt_id"], "answers": right_answers(db, quiz["attempt_id"])}
    assert client.post(f"/api/v1/lessons/{L1}/quiz-attempts", headers=headers, json=body).is_success
    again = client.post(f"/api/v1/lessons/{L1}/quiz-attempts", headers=headers, json=body)
    assert again.status_code == 409 and again.json()["code"] == "already_answered"
    second = draw(client, headers)
    body = {"attempt_id": second["attempt_id"], "answers": right_answers(db, second["attempt_id"])}
    assert client.post(f"/api/v1/lessons/{L1}/quiz-attempts", headers=headers, json=body).is_success
    points = db.scalars(select(PointEvent.points).where(PointEvent.user_id == learner.id)).all()
    assert points == [10]
    row = db.get(LessonProgress, (learner.id, L1))
    assert (row.quiz_attempts, row.quiz_best) == (2, 100)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a, q: a.pop(q[1]["id"]), "Câu 2: chưa trả lời."),
        (lambda a, q: a.update({q[0]["id"]: "1"}), "Câu 1: "),
        (lambda a, q: a.update({q[0]["id"]: 99}), "Câu 1: "),
        (lambda a, q: a.update({q[0]["id"]: None}), "Câu 1: "),
        (lambda a, q: a.update({"q99": 1}), "Câu hỏi không có trong lần làm bài này: q99."),
    ],
)
def test_answers_in_the_wrong_shape_are_422(client, headers, db, change, message):
    quiz = draw(client, headers)
    answers = right_answers(db, quiz["attempt_id"])
    change(answers, quiz["questions"])
    res = client.post(
        f"/api/v1/lessons/{L1}/quiz-attempts",
        headers=headers,
        json={"attempt_id": quiz["attempt_id"], "answers": answers},
    )
    assert res.status_code == 422
    assert res.json()["detail"].startswith(message)
    assert db.get(QuizAttempt, quiz["attempt_id"]).submitted_at is None  # still open


def test_malformed_quiz_bodies_are_422_in_vietnamese(client, headers):
    quiz = draw(client, headers)
    url = f"/api/v1/lessons/{L1}/quiz-attempts"
    res = client.post(url, headers=headers, json={"answers": {}})
    assert res.status_code == 422 and "Thiếu thông tin bắt buộc" in res.json()["detail"]
    res = client.post(
        url, headers={**headers, "content-type": "application/json"}, content=b"{not json"
    )
    assert res.status_code == 422 and res.json()["code"] == "validation"
    res = client.post(url, headers=headers, json={"attempt_id": quiz["attempt_id"], "answers": 3})
    assert res.status_code == 422


def test_someone_elses_attempt_is_404(client, db, tree, headers, lessons):
    quiz = draw(client, headers)
    other = login(client, make_user(db, tree.village))
    res = client.post(
        f"/api/v1/lessons/{L1}/quiz-attempts",
        headers=other,
        json={"attempt_id": quiz["attempt_id"], "answers": {}},
    )
    assert res.status_code == 404


def test_quiz_attempts_are_limited_per_day(client, headers, db, app):
    limit = app.state.settings.quiz_attempts_per_lesson_per_day
    for _ in range(limit):
        quiz = draw(client, headers)
        body = {"attempt_id": quiz["attempt_id"], "answers": right_answers(db, quiz["attempt_id"])}
        assert client.post(
            f"/api/v1/lessons/{L1}/quiz-attempts", headers=headers, json=body
        ).is_success
    res = client.get(f"/api/v1/lessons/{L1}/quiz", headers=headers)
    assert res.status_code == 429 and res.json()["code"] == "quiz_limit"


# ---- submissions ----------------------------------------------------------------------------


def test_a_submission_waits_as_queued_with_no_grade(client, headers, db):
    res = send(client, headers)
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["status"] == "queued" and body["score"] is None and body["passed"] is None
    assert [c["id"] for c in body["criteria"]] == ["cau_lenh", "hoi_tiep", "nhan_xet"]
    assert all(c["score"] is None for c in body["criteria"])
    got = client.get(f"/api/v1/submissions/{body['id']}", headers=headers)
    assert got.status_code == 200 and got.json()["status"] == "queued"
    stored = db.get(Submission, body["id"])
    assert stored.text == GOOD_TEXT and stored.lesson_version_id is not None


def test_double_submit_of_one_draft_is_409_with_its_id(client, headers, db):
    first = send(client, headers, client_id="draft-0001")
    again = send(client, headers, client_id="draft-0001")
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_submission"
    assert again.json()["submission_id"] == first.json()["id"]
    count = db.scalars(select(Submission.id)).all()
    assert len(count) == 1


@pytest.mark.parametrize(
    "text, code",
    [("ngắn quá", "too_short"), ("x" * 2600, "too_long"), ("  \n\t ", "too_short")],
)
def test_submission_text_bounds(client, headers, text, code):
    res = send(client, headers, text=text)
    assert res.status_code == 422 and res.json()["code"] == code
    assert "ký tự" in res.json()["detail"]


def test_bad_client_id_and_kind(client, headers):
    assert send(client, headers, client_id="x y").json()["code"] == "bad_client_id"
    res = send(client, headers, kind="essay")
    assert res.status_code == 422 and res.json()["code"] == "validation"


def test_daily_limit_per_lesson_and_kind(client, headers, app):
    limit = app.state.settings.submissions_per_lesson_per_day
    for _ in range(limit):
        assert send(client, headers).status_code == 201
    res = send(client, headers)
    assert res.status_code == 429 and res.json()["code"] == "daily_limit"
    assert "điểm cao nhất được giữ" in res.json()["detail"].lower()
    teach = "Tôi sẽ giải thích cho bác hàng xóm: AI là phần mềm biết trò chuyện và viết giúp."
    assert send(client, headers, kind="teach_back", text=teach * 2).status_code == 201


def test_someone_elses_submission_is_404(client, headers, db, tree):
    sid = send(client, headers).json()["id"]
    other = login(client, make_user(db, tree.village))
    assert client.get(f"/api/v1/submissions/{sid}", headers=other).status_code == 404


def test_an_image_lesson_needs_a_picture_and_strips_its_metadata(
    client, db, tree, learner, headers, media_dir
):
    admin = login(client, make_user(db, tree.province, role=Role.admin))
    res = client.post(f"/api/v1/admin/users/{learner.id}/levels/2/unlock", headers=admin)
    assert res.status_code == 200 and res.json()["created"] is True
    assert send(client, headers, lesson=L3).json()["code"] == "image_required"
    res = send(client, headers, lesson=L3, image=("anh.jpg", jpeg_with_gps(), "image/jpeg"))
    assert res.status_code == 201, res.text
    url = res.json()["image_url"]
    stored = media_dir / "submissions" / url.rsplit("/", 1)[1]
    with Image.open(stored) as image:
        assert image.format == "JPEG"
        assert max(image.size) == 1600 and image.size == (1200, 1600)  # turned upright
        assert not image.getexif() and "exif" not in image.info
    assert b"GPS" not in stored.read_bytes() and "Điện thoại".encode() not in stored.read_bytes()
    assert client.get(url, headers=headers).status_code == 200
    outsider = login(client, make_user(db, tree.village))
    assert client.get(url, headers=outsider).status_code == 404
    assert client.get(url, headers=admin).status_code == 200
    assert client.get("/media/submissions/../../etc/passwd", headers=headers).status_code == 404


@pytest.mark.parametrize(
    "filename, data, status, code",
    [
        ("anh.png", b"day khong phai anh", 422, "bad_image"),
        ("anh.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", 422, "bad_image"),
        ("anh.png", png()[:40], 422, "bad_image"),
    ],
)
def test_bad_pictures_are_refused(client, db, tree, learner, headers, filename, data, status, code):
    admin = login(client, make_user(db, tree.province, role=Role.admin))
    client.post(f"/api/v1/admin/users/{learner.id}/levels/2/unlock", headers=admin)
    res = send(client, headers, lesson=L3, image=(filename, data, "image/png"))
    assert res.status_code == status and res.json()["code"] == code
    assert db.scalars(select(Submission.id)).all() == []


@pytest.fixture
def small_uploads(app):
    original = app.state.settings
    app.state.settings = original.model_copy(update={"upload_max_bytes": 100_000})
    yield
    app.state.settings = original


def test_oversized_and_bomb_pictures(client, db, tree, learner, headers, small_uploads):
    admin = login(client, make_user(db, tree.province, role=Role.admin))
    client.post(f"/api/v1/admin/users/{learner.id}/levels/2/unlock", headers=admin)
    big = png(400, 400, compress_level=0)
    res = send(client, headers, lesson=L3, image=("to.png", big, "image/png"))
    assert res.status_code == 413 and res.json()["code"] == "image_too_large"
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    res = send(client, headers, lesson=L3, image=("bom.png", bomb.getvalue(), "image/png"))
    assert res.status_code == 422 and res.json()["detail"].startswith("Ảnh có kích thước quá lớn")


def test_a_picture_where_none_is_asked_is_refused(client, headers):
    res = send(client, headers, image=("anh.png", png(), "image/png"))
    assert res.status_code == 422 and res.json()["code"] == "image_not_expected"


# ---- completing lessons, unlocking, progress --------------------------------------------


def pass_quiz(client, headers, db, lesson):
    quiz = draw(client, headers, lesson)
    body = {"attempt_id": quiz["attempt_id"], "answers": right_answers(db, quiz["attempt_id"])}
    res = client.post(f"/api/v1/lessons/{lesson}/quiz-attempts", headers=headers, json=body)
    assert res.status_code == 200 and res.json()["passed"]
    return res.json()


def test_completion_needs_the_quiz_and_a_passing_challenge(client, headers, db, learner, settings):
    low = send(client, headers).json()["id"]
    grade(db, settings, low, 40.0, False)
    high = send(client, headers).json()["id"]
    grade(db, settings, high, 80.0, True)
    row = db.get(LessonProgress, (learner.id, L1))
    assert row.completed_at is None and row.challenge_best == 80.0  # the quiz is not passed
    assert client.get(f"/api/v1/lessons/{L2}/quiz", headers=headers).status_code == 403
    assert pass_quiz(client, headers, db, L1)["lesson_completed"] is True
    db.expire_all()
    row = db.get(LessonProgress, (learner.id, L1))
    assert row.completed_at is not None
    assert client.get(f"/api/v1/lessons/{L2}/quiz", headers=headers).status_code == 200
    kinds = db.scalars(
        select(PointEvent.kind).where(PointEvent.user_id == learner.id).order_by(PointEvent.id)
    ).all()
    # the failed try earns the effort point, the passing one 30 × 80% for the challenge
    assert kinds == ["effort", "challenge_score", "quiz_pass", "lesson_complete"]
    today = client.get("/api/v1/me/today", headers=headers).json()
    assert today["lesson"]["id"] == L2 and today["points"] == 2 + 24 + 10 + 50
    assert today["streak"] == 1
    # a better grade on the same lesson adds only the difference and never completes twice
    grade(db, settings, send(client, headers).json()["id"], 100.0, True)
    assert db.get(LessonProgress, (learner.id, L1)).challenge_best == 100.0
    kinds = db.scalars(
        select(PointEvent.kind).where(PointEvent.user_id == learner.id).order_by(PointEvent.id)
    ).all()
    assert kinds.count("lesson_complete") == 1 and kinds[-1] == "challenge_score"
    assert client.get("/api/v1/me/today", headers=headers).json()["points"] == 2 + 30 + 10 + 50


def test_finishing_level_one_opens_level_two_and_progress_shows_it(
    client, headers, db, learner, settings
):
    for lesson in (L1, L2):
        pass_quiz(client, headers, db, lesson)
        grade(db, settings, send(client, headers, lesson=lesson).json()["id"], 90.0, True)
    res = client.get("/api/v1/me/progress", headers=headers)
    assert res.status_code == 200
    levels = res.json()["levels"]
    assert [(lv["number"], lv["unlocked"], lv["completed"], lv["done"]) for lv in levels] == [
        (1, True, True, 2),
        (2, True, False, 0),
    ]
    first = levels[0]["lessons"][0]
    assert (first["status"], first["quiz_best"], first["challenge_best"], first["submissions"]) == (
        "completed",
        100,
        90.0,
        1,
    )
    assert res.json()["days"][0]["lessons_completed"] == 2
    assert res.json()["days"][0]["counted"] is True
    assert client.get(f"/api/v1/lessons/{L3}/quiz", headers=headers).status_code == 200


def test_unit_admin_unlocks_only_in_scope_and_unlock_is_audited(client, db, tree, learner):
    from app.models import AuditLog

    unit_admin = login(client, make_user(db, tree.ward, role=Role.unit_admin))
    url = f"/api/v1/admin/users/{learner.id}/levels/2/unlock"
    assert client.post(url, headers=unit_admin).json() == {
        "user_id": learner.id,
        "level": 2,
        "created": True,
    }
    assert client.post(url, headers=unit_admin).json()["created"] is False
    assert (
        client.post(
            f"/api/v1/admin/users/{learner.id}/levels/9/unlock", headers=unit_admin
        ).status_code
        == 404
    )
    actions = db.scalars(select(AuditLog.action).where(AuditLog.target_id == str(learner.id))).all()
    assert actions == ["learning.unlock_level"]
    learner_headers = login(client, learner)
    assert client.post(url, headers=learner_headers).status_code == 403


# ---- time and days --------------------------------------------------------------------------


def test_heartbeats_credit_only_real_active_time(db, learner, settings):
    from app.learning.activity import heartbeat

    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    beats = [0, 20, 40, 60, 200, 220, 221, 400]  # a pause after 60 s, a burst at 220/221
    for offset in beats:
        day = heartbeat(
            db, user_id=learner.id, settings=settings, now=start + timedelta(seconds=offset)
        )
    # credited: 20+20+20 (0→60), nothing for the 140 s gap, 20 (200→220), 1 (220→221)
    assert day.active_seconds == 81
    assert day.goal_met_at is None


def test_the_daily_goal_and_the_cap(db, learner, settings):
    from app.learning.activity import heartbeat

    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    for n in range(46):  # 45 gaps of 20 s = 15 minutes
        day = heartbeat(
            db, user_id=learner.id, settings=settings, now=start + timedelta(seconds=20 * n)
        )
    assert day.active_seconds == 900 and day.goal_met_at is not None
    capped = settings.model_copy(update={"daily_active_cap_minutes": 16})
    for n in range(46, 200):
        day = heartbeat(
            db, user_id=learner.id, settings=capped, now=start + timedelta(seconds=20 * n)
        )
    assert day.active_seconds == 16 * 60


def test_days_are_counted_in_ho_chi_minh_time(db, learner, settings):
    from app.learning.activity import heartbeat

    late_utc = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # 00:30 on the 24th in Hà Nội
    day = heartbeat(db, user_id=learner.id, settings=settings, now=late_utc)
    assert day.day == date(2026, 11, 24)


def test_heartbeat_api(client, headers):
    res = client.post("/api/v1/me/heartbeat", headers=headers, json={"lesson_id": L1})
    assert res.status_code == 200
    assert res.json() == {
        "active_seconds": 0,
        "goal_seconds": 900,
        "goal_met": False,
        "next_in_seconds": 20,
    }
    res = client.post("/api/v1/me/heartbeat", headers=headers, json={"lesson_id": "b9-khong"})
    assert res.status_code == 422 and res.json()["code"] == "unknown_lesson"
    res = client.post("/api/v1/me/heartbeat", headers=headers, json={"lesson_id": L1, "s": 900})
    assert res.status_code == 422
