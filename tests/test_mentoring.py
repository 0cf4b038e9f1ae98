"""Mentoring: who may mentor (eligibility edges, confirmation, stepping down, removal), the
review queue's scope (levels, subtree first, wider when empty, never one's own work), the
decision policy (flagged, sample, appeal; admins decide), calibration points once, appeals
once, concurrent reviews ending in one decision, notifications, and the pages."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.gamification import ledger, streaks
from app.mentoring import mentors, review
from app.models import (
    AuditLog,
    GradeRecord,
    LessonProgress,
    Mentorship,
    MentorStatus,
    Notification,
    PointEvent,
    ReviewItem,
    ReviewKind,
    ReviewStatus,
    Role,
    utcnow,
)
from tests.factories import csrf_of, form_post, graded_submission, login, make_user, page_login

L1, L2 = "b1-01-ai-la-gi", "b1-02-hoi-tiep"
L21 = "b2-01-anh-dau-tien"
ALL_TWO = {"cau_lenh": 2, "hoi_tiep": 2, "nhan_xet": 2}  # 66.67
ALL_THREE = {"cau_lenh": 3, "hoi_tiep": 3, "nhan_xet": 3}  # 100
ALL_ONE = {"cau_lenh": 1, "hoi_tiep": 1, "nhan_xet": 1}  # 33.33
FEEDBACK = "Câu hỏi rõ ràng; hãy thêm một chỗ cần kiểm tra lại."


def complete_level_one(db, user, *, average: float = 90.0, longest: int = 10) -> None:
    """What eligibility reads: both level-1 lessons completed with `average`, a streak, and
    the learner moved on to level 2 (as completing a level does)."""
    for lesson in (L1, L2):
        db.add(
            LessonProgress(
                user_id=user.id,
                lesson_id=lesson,
                last_activity_at=utcnow(),
                quiz_passed_at=utcnow(),
                challenge_passed_at=utcnow(),
                completed_at=utcnow(),
                challenge_best=average,
            )
        )
    stats = streaks.stats_for(db, user.id)
    stats.longest_streak, stats.level = longest, 2
    db.flush()


def make_mentor(db, settings, unit, *, name: str = "Trần Văn Hướng", level: int = 1):
    user = make_user(db, unit, name=name)
    complete_level_one(db, user)
    row = mentors.apply(db, user=user, level_number=level, settings=settings, now=utcnow())
    mentors.decide(db, row=row, actor_id=None, confirm=True, reason="", now=utcnow())
    assert user.role == Role.mentor
    return user


def graded(db, user, *, lesson: str = L1, score: float = 40.0, passed: bool = False, flags=()):
    return graded_submission(db, user, lesson, score=score, passed=passed, flags=tuple(flags))


def flag(db, settings, submission, flags=("low_confidence",)) -> ReviewItem:
    review.enqueue_graded(
        db,
        grades=[
            review.Graded(
                submission_id=submission.id,
                user_id=submission.user_id,
                lesson_id=submission.lesson_id,
                score=float(submission.score),
                passed=bool(submission.passed),
                flags=tuple(flags),
                needs_review=True,
            )
        ],
        settings=settings,
    )
    return db.scalar(
        select(ReviewItem).where(
            ReviewItem.submission_id == submission.id, ReviewItem.kind == ReviewKind.flagged
        )
    )


def send_review(client, headers, item_id, scores=ALL_THREE, feedback=FEEDBACK):
    return client.post(
        f"/api/v1/mentor/items/{item_id}/review",
        json={"scores": scores, "feedback": feedback},
        headers=headers,
    )


def mentor_points(db, user_id) -> list[int]:
    return list(
        db.scalars(
            select(PointEvent.points).where(
                PointEvent.user_id == user_id, PointEvent.kind == "mentor_review"
            )
        )
    )


@pytest.fixture
def learner(db, tree, lessons):
    return make_user(db, tree.hamlet, name="Lê Thị Học")


# ---- becoming a mentor ----------------------------------------------------------------------
def test_eligibility_edges(db, settings, tree, lessons):
    """Completed, average at the threshold and longest streak at the threshold: eligible;
    a point below either, or a lesson short, is not."""
    at = make_user(db, tree.hamlet, name="Đủ Điều Kiện")
    complete_level_one(
        db, at, average=settings.mentor_min_average, longest=settings.mentor_min_streak
    )
    low = make_user(db, tree.hamlet, name="Điểm Thấp")
    complete_level_one(db, low, average=settings.mentor_min_average - 0.5, longest=30)
    short = make_user(db, tree.hamlet, name="Chuỗi Ngắn")
    complete_level_one(db, short, average=95, longest=settings.mentor_min_streak - 1)
    half = make_user(db, tree.hamlet, name="Mới Nửa Bậc")
    db.add(
        LessonProgress(
            user_id=half.id,
            lesson_id=L1,
            last_activity_at=utcnow(),
            completed_at=utcnow(),
            challenge_best=99,
        )
    )
    streaks.stats_for(db, half.id).longest_streak = 40
    db.flush()
    level = {u.id: mentors.standings(db, u, settings)[0] for u in (at, low, short, half)}
    assert level[at.id].eligible and level[at.id].missing == ()
    assert not level[low.id].eligible and "trung bình" in level[low.id].missing[0]
    assert not level[short.id].eligible and "liền" in level[short.id].missing[0]
    assert not level[half.id].eligible and "còn 1 bài" in level[half.id].missing[0]
    assert [s.level_number for s in mentors.invitations(db, at, settings)] == [1]
    assert mentors.invitations(db, low, settings) == []


def test_apply_confirm_step_down_and_removal(client, db, settings, tree, lessons):
    user = make_user(db, tree.hamlet, name="Phạm Minh Tâm")
    headers = login(client, user)
    assert client.post("/api/v1/me/mentoring/1/apply", headers=headers).status_code == 403
    complete_level_one(db, user)
    res = client.post("/api/v1/me/mentoring/1/apply", headers=headers)
    assert res.status_code == 201, res.text
    assert res.json()["levels"][0]["status"] == "pending"
    assert client.post("/api/v1/me/mentoring/1/apply", headers=headers).status_code == 409
    row = db.scalar(select(Mentorship).where(Mentorship.user_id == user.id))

    outsider = make_user(db, tree.commune, role=Role.unit_admin, name="Quản Trị Xã Khác")
    res = client.post(
        f"/api/v1/admin/mentors/{row.id}/confirm", json={}, headers=login(client, outsider)
    )
    assert res.status_code == 403
    ward_admin = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    admin_headers = login(client, ward_admin)
    listed = client.get("/api/v1/admin/mentors?status=pending", headers=admin_headers).json()
    assert [m["id"] for m in listed] == [row.id]
    res = client.post(f"/api/v1/admin/mentors/{row.id}/confirm", json={}, headers=admin_headers)
    assert res.status_code == 200 and res.json()["status"] == "active"
    db.refresh(user)
    assert user.role == Role.mentor
    note = db.scalar(select(Notification).where(Notification.user_id == user.id))
    assert note.kind == "mentor_confirmed"

    res = client.post("/api/v1/me/mentoring/1/step-down", json={}, headers=headers)
    assert res.status_code == 200 and res.json()["levels"][0]["status"] == "stepped_down"
    db.refresh(user)
    assert user.role == Role.learner
    # applying again after stepping down is allowed; an admin's removal is final
    assert client.post("/api/v1/me/mentoring/1/apply", headers=headers).status_code == 201
    client.post(f"/api/v1/admin/mentors/{row.id}/confirm", json={}, headers=admin_headers)
    short = client.post(
        f"/api/v1/admin/mentors/{row.id}/remove", json={"reason": "x"}, headers=admin_headers
    )
    assert short.status_code == 422
    res = client.post(
        f"/api/v1/admin/mentors/{row.id}/remove",
        json={"reason": "Chấm bài không nghiêm túc"},
        headers=admin_headers,
    )
    assert res.status_code == 200 and res.json()["status"] == "removed"
    db.refresh(user)
    assert user.role == Role.learner
    assert client.post("/api/v1/me/mentoring/1/apply", headers=headers).status_code == 403
    actions = db.scalars(
        select(AuditLog.action).where(AuditLog.target_type == "mentorship").order_by(AuditLog.id)
    ).all()
    assert actions == [
        "mentor.apply",
        "mentor.confirm",
        "mentor.step_down",
        "mentor.apply",
        "mentor.confirm",
        "mentor.remove",
    ]


def test_automatic_confirmation_by_setting(db, settings, tree, lessons):
    user = make_user(db, tree.hamlet, name="Tự Động")
    complete_level_one(db, user)
    auto = settings.model_copy(update={"mentor_auto_confirm": True})
    row = mentors.apply(db, user=user, level_number=1, settings=auto, now=utcnow())
    assert row.status == MentorStatus.active and user.role == Role.mentor


# ---- the queue's scope ----------------------------------------------------------------------
def test_a_mentor_sees_only_their_levels_their_subtree_first_and_never_their_own(
    client, db, settings, tree, lessons, learner
):
    mentor = make_mentor(db, settings, tree.ward)
    headers = login(client, mentor)
    far = make_user(db, tree.village, name="Ở Xa")
    far_item = flag(db, settings, graded(db, far))
    level_two = flag(db, settings, graded(db, learner, lesson=L21))
    own = flag(db, settings, graded(db, mentor))
    # nothing waits in the ward's subtree: the mentor serves the province (wider)
    queue = client.get("/api/v1/mentor/queue", headers=headers).json()
    assert [i["id"] for i in queue["items"]] == [far_item.id] and queue["widened"] is True
    near_item = flag(db, settings, graded(db, learner, lesson=L2))
    queue = client.get("/api/v1/mentor/queue", headers=headers).json()
    assert [i["id"] for i in queue["items"]] == [near_item.id] and queue["widened"] is False
    assert queue["scope_unit"] == tree.ward.name
    for hidden in (far_item, level_two, own):
        assert client.get(f"/api/v1/mentor/items/{hidden.id}", headers=headers).status_code == 404
        assert send_review(client, headers, hidden.id).status_code == 404
    # a learner has no queue
    res = client.get("/api/v1/mentor/queue", headers=login(client, learner))
    assert res.status_code == 403


def test_opening_an_item_holds_it_for_one_mentor(client, db, settings, tree, lessons, learner):
    first = make_mentor(db, settings, tree.ward, name="Người Thứ Nhất")
    second = make_mentor(db, settings, tree.ward, name="Người Thứ Hai")
    item = flag(db, settings, graded(db, learner))
    assert (
        client.get(f"/api/v1/mentor/items/{item.id}", headers=login(client, first)).status_code
        == 200
    )
    other = login(client, second)
    assert client.get(f"/api/v1/mentor/items/{item.id}", headers=other).status_code == 409
    assert client.get("/api/v1/mentor/queue", headers=other).json()["items"] == []
    db.refresh(item)
    item.claimed_until = utcnow() - timedelta(seconds=1)  # the hold ran out
    db.flush()
    assert client.get(f"/api/v1/mentor/items/{item.id}", headers=other).status_code == 200


# ---- decisions ------------------------------------------------------------------------------
def test_a_mentors_grade_replaces_a_flagged_one_with_audit_points_and_notice(
    client, db, settings, tree, lessons, learner
):
    mentor = make_mentor(db, settings, tree.ward)
    headers = login(client, mentor)
    submission = graded(db, learner, score=40.0, passed=False)
    item = flag(db, settings, submission)
    client.get(f"/api/v1/mentor/items/{item.id}", headers=headers)
    bad = send_review(client, headers, item.id, scores={"cau_lenh": 3, "hoi_tiep": 9})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][-1] == "hoi_tiep"
    missing = send_review(client, headers, item.id, scores={"cau_lenh": 3})
    assert missing.status_code == 422 and "tiêu chí" in missing.json()["detail"]
    assert send_review(client, headers, item.id, feedback="ngắn").status_code == 422
    res = send_review(client, headers, item.id)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["status"] == "decided" and body["decided_score"] == 100.0
    db.refresh(submission)
    assert (submission.score, submission.passed, submission.grader) == (100.0, True, "mentor")
    assert submission.needs_review is False
    assert submission.result["feedback"] == FEEDBACK
    assert (
        db.scalar(select(GradeRecord.grader).where(GradeRecord.submission_id == submission.id))
        == "mentor"
    )
    challenge = db.scalars(
        select(PointEvent.points).where(
            PointEvent.user_id == learner.id, PointEvent.kind == "challenge_score"
        )
    ).all()
    assert sum(challenge) == settings.points_challenge_max
    change = db.scalar(select(AuditLog).where(AuditLog.action == "grade.change"))
    assert change.details["before"] == {"score": 40.0, "passed": False}
    assert change.details["after"] == {"score": 100.0, "passed": True}
    assert change.actor_id == mentor.id
    note = db.scalar(
        select(Notification).where(
            Notification.user_id == learner.id, Notification.kind == "review"
        )
    )
    assert "100/100" in note.title and note.body == FEEDBACK
    assert mentor_points(db, mentor.id) == [settings.points_mentor_review]
    # decided: a second review is refused, and no more points come
    other = make_mentor(db, settings, tree.ward, name="Đến Muộn")
    late = send_review(client, login(client, other), item.id)
    assert late.status_code == 409
    db.refresh(item)
    review._credit(db, item, settings=settings, now=utcnow())  # computed again: no more
    assert mentor_points(db, mentor.id) == [settings.points_mentor_review]


def test_an_appeal_is_made_once_and_needs_a_second_opinion(
    client, db, settings, tree, lessons, learner
):
    submission = graded(db, learner, score=55.0, passed=False)
    headers = login(client, learner)
    short = client.post(
        f"/api/v1/submissions/{submission.id}/appeal", json={"reason": "sai"}, headers=headers
    )
    assert short.status_code == 422
    res = client.post(
        f"/api/v1/submissions/{submission.id}/appeal",
        json={"reason": "Tôi đã có câu hỏi tiếp và nhận xét đầy đủ."},
        headers=headers,
    )
    assert res.status_code == 201 and res.json()["status"] == "open"
    again = client.post(
        f"/api/v1/submissions/{submission.id}/appeal",
        json={"reason": "Tôi vẫn thấy điểm chưa đúng."},
        headers=headers,
    )
    assert again.status_code == 409
    stranger = make_user(db, tree.hamlet, name="Người Lạ")
    res = client.post(
        f"/api/v1/submissions/{submission.id}/appeal",
        json={"reason": "Không phải bài của tôi."},
        headers=login(client, stranger),
    )
    assert res.status_code == 404

    item = review.appeal_of(db, submission.id)
    first = make_mentor(db, settings, tree.ward, name="Người Xem Đầu")
    second = make_mentor(db, settings, tree.ward, name="Người Quyết Định")
    one = login(client, first)
    assert send_review(client, one, item.id, scores=ALL_TWO).json()["status"] == "second"
    assert send_review(client, one, item.id).status_code == 409  # once per reviewer
    state = client.get(f"/api/v1/submissions/{submission.id}/appeal", headers=headers).json()
    assert state["status"] == "second" and "người thứ hai" in state["text"]
    res = send_review(client, login(client, second), item.id, scores=ALL_TWO)
    assert res.json()["status"] == "decided"
    state = client.get(f"/api/v1/submissions/{submission.id}/appeal", headers=headers).json()
    assert state["status"] == "decided" and "thành 67/100" in state["text"]
    # both reviews agree with the decision: each mentor earns once
    assert mentor_points(db, first.id) == [settings.points_mentor_review]
    assert mentor_points(db, second.id) == [settings.points_mentor_review]
    kinds = db.scalars(select(Notification.kind).where(Notification.user_id == learner.id)).all()
    assert kinds == ["appeal_result"]


def test_calibration_credits_only_reviews_that_agree(client, db, settings, tree, lessons, learner):
    submission = graded(db, learner, score=55.0, passed=False)
    item = review.appeal(
        db,
        user=learner,
        submission_id=submission.id,
        reason="Xin xem lại giúp tôi.",
        settings=settings,
        now=utcnow(),
    )
    harsh = make_mentor(db, settings, tree.ward, name="Chấm Khắt Khe")
    send_review(client, login(client, harsh), item.id, scores=ALL_ONE)
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    res = send_review(client, login(client, admin), item.id, scores=ALL_THREE)
    assert res.json()["status"] == "decided" and res.json()["decided_score"] == 100.0
    assert mentor_points(db, harsh.id) == []  # 33 against 100
    assert mentor_points(db, admin.id) == []  # admins decide; they earn nothing
    reviews = {r["role"]: r["agrees"] for r in res.json()["reviews"]}
    assert reviews == {"mentor": False, "admin": True}
    db.refresh(submission)
    assert submission.grader == "admin"


def test_a_sample_is_confirmed_within_the_threshold_and_escalated_beyond(
    client, db, settings, tree, lessons, learner
):
    always = settings.model_copy(update={"review_sample_rate": 1.0})
    assert review.sampled(1, always) and not review.sampled(
        1, settings.model_copy(update={"review_sample_rate": 0.0})
    )
    near = graded(db, learner, score=70.0, passed=True)
    far = graded(db, learner, lesson=L2, score=95.0, passed=True)
    opened = review.enqueue_graded(
        db,
        grades=[
            review.Graded(s.id, learner.id, s.lesson_id, s.score, True, (), False)
            for s in (near, far)
        ],
        settings=always,
    )
    assert opened == 2
    items = {
        i.submission_id: i
        for i in db.scalars(select(ReviewItem).where(ReviewItem.kind == ReviewKind.sample))
    }
    mentor = make_mentor(db, settings, tree.ward)
    headers = login(client, mentor)
    res = send_review(client, headers, items[near.id].id, scores=ALL_TWO)  # 67 against 70
    assert res.json()["status"] == "decided" and res.json()["decided_score"] == 70.0
    db.refresh(near)
    assert near.score == 70.0 and near.grader == "rubric"  # the automatic grade stands
    res = send_review(client, headers, items[far.id].id, scores=ALL_TWO)  # 67 against 95
    assert res.json()["status"] == "second"
    assert mentor_points(db, mentor.id) == [settings.points_mentor_review]


def test_a_regrade_that_no_longer_needs_a_human_closes_the_unreviewed_item(
    db, settings, tree, lessons, learner
):
    submission = graded(db, learner, score=40.0, flags=("provisional",))
    item = flag(db, settings, submission, flags=("provisional",))
    review.enqueue_graded(
        db,
        grades=[review.Graded(submission.id, learner.id, L1, 80.0, True, (), False)],
        settings=settings.model_copy(update={"review_sample_rate": 0.0}),
    )
    db.refresh(item)
    assert item.status == ReviewStatus.decided and item.decided_score == 80.0


def test_two_mentors_reviewing_at_once_end_in_one_decision(tmp_path, settings):
    """Two reviews of one flagged item from two connections at the same moment: one
    decides, the other is refused (409), on PostgreSQL (the item's row lock and the
    status compare-and-set) and on SQLite (transactions take the write lock as they begin,
    so the second one reads the decided item instead of failing as "database is
    locked")."""
    from sqlalchemy.orm import Session as PlainSession

    from app.auth.service import Principal
    from app.curriculum.loader import sync_curriculum
    from app.curriculum.validate import load_curriculum
    from app.db import make_engine
    from app.migrations import upgrade
    from app.models import Unit, User
    from tests.conftest import FIXTURE_CURRICULUM
    from tests.dbutil import scratch_database
    from tests.factories import make_tree

    with scratch_database(tmp_path, "reviews") as url:
        upgrade(url)
        engine = make_engine(url)
        with PlainSession(engine) as session:
            sync_curriculum(session, load_curriculum(FIXTURE_CURRICULUM))
            tree = make_tree(session)
            learner = make_user(session, tree.hamlet, name="Học Viên")
            ids = [make_mentor(session, settings, tree.ward, name=f"Người {n}").id for n in "AB"]
            item_id = flag(session, settings, graded(session, learner)).id
            ward_path = tree.ward.path
            session.commit()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def grade(user_id: int, scores: dict[str, int]) -> None:
            with PlainSession(engine) as session:
                barrier.wait()
                user = session.get(User, user_id)  # the request reads before it writes
                principal = Principal(user=user, auth=None, unit_path=ward_path)
                try:
                    review.submit_review(
                        session,
                        principal,
                        item_id=item_id,
                        scores=scores,
                        comments={},
                        feedback=FEEDBACK,
                        settings=settings,
                        now=utcnow(),
                    )
                    time.sleep(0.2)  # hold the locks while the other review arrives
                    session.commit()
                    outcomes.append("decided")
                except Exception as exc:  # the loser's Conflict
                    session.rollback()
                    outcomes.append(type(exc).__name__)

        threads = [
            threading.Thread(target=grade, args=(ids[0], ALL_THREE)),
            threading.Thread(target=grade, args=(ids[1], ALL_TWO)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["Conflict", "decided"]
        with PlainSession(engine) as session:
            item = session.get(ReviewItem, item_id)
            assert item.status == ReviewStatus.decided
            reviews = session.scalar(select(func.count()).where(PointEvent.kind == "mentor_review"))
            assert reviews == 1
            records = session.scalar(
                select(func.count()).where(GradeRecord.submission_id == item.submission_id)
            )
            assert records == 1
            assert session.scalar(select(func.count()).select_from(Unit)) == 5
        engine.dispose()


# ---- notifications --------------------------------------------------------------------------
def test_notifications_list_and_read(client, db, settings, tree, lessons, learner):
    mentor = make_mentor(db, settings, tree.ward)
    item = flag(db, settings, graded(db, learner))
    send_review(client, login(client, mentor), item.id)
    headers = login(client, learner)
    body = client.get("/api/v1/notifications", headers=headers).json()
    assert body["unread"] == 1 and body["items"][0]["link"].startswith(f"/lessons/{L1}")
    res = client.post("/api/v1/notifications/read", json={}, headers=headers)
    assert res.json() == {"marked": 1, "unread": 0}
    res = client.post("/api/v1/notifications/read", json={"ids": "x"}, headers=headers)
    assert res.status_code == 422


# ---- pages ----------------------------------------------------------------------------------
def test_the_mentor_pages_review_and_the_bell(client, db, settings, tree, lessons, learner):
    mentor = make_mentor(db, settings, tree.ward)
    submission = graded(db, learner, score=40.0)
    item = flag(db, settings, submission)
    page_login(client, mentor)
    home = client.get("/")
    assert "1</strong> bài đang chờ bạn" in home.text
    queue = client.get("/mentor")
    assert queue.status_code == 200 and f"/mentor/items/{item.id}" in queue.text
    form = client.get(f"/mentor/items/{item.id}")
    assert form.status_code == 200 and "Câu hỏi đầu tiên rõ ràng" in form.text
    assert learner.full_name not in form.text  # anonymous review
    csrf_of(client, f"/mentor/items/{item.id}")
    res = form_post(
        client, f"/mentor/items/{item.id}", {"score_cau_lenh": "3", "feedback": FEEDBACK}
    )
    assert res.status_code == 422 and "Hỏi tiếp để AI sửa cho vừa ý" in res.text
    res = form_post(
        client,
        f"/mentor/items/{item.id}",
        {**{f"score_{k}": str(v) for k, v in ALL_THREE.items()}, "feedback": FEEDBACK},
        follow_redirects=False,
    )
    assert res.status_code == 303 and res.headers["location"] == "/mentor?done=review"
    client.cookies.clear()
    page_login(client, learner)
    lesson = client.get(f"/lessons/{L1}")
    bell = re.search(r'aria-label="Thông báo, (\d+) chưa đọc"', lesson.text)
    assert bell and bell.group(1) == "1"
    assert "Điểm do người hướng dẫn chấm lại." in lesson.text
    notes = client.get("/notifications")
    assert "đã được xem lại" in notes.text
    assert "chưa đọc" not in client.get("/notifications").text.split("<main")[0]


def test_the_appeal_form_on_the_lesson_page(client, db, settings, tree, lessons, learner):
    submission = graded(db, learner, score=55.0)
    db.add(
        LessonProgress(user_id=learner.id, lesson_id=L1, last_activity_at=utcnow(), submissions=1)
    )
    db.flush()
    page_login(client, learner)
    page = client.get(f"/lessons/{L1}")
    assert f'action="/submissions/{submission.id}/appeal"' in page.text
    res = form_post(
        client, f"/submissions/{submission.id}/appeal", {"reason": "ngắn"}, follow_redirects=False
    )
    assert res.status_code == 303 and "appeal_error=" in res.headers["location"]
    shown = client.get(res.headers["location"])
    assert "Lý do khiếu nại cần từ 10" in shown.text
    res = form_post(
        client,
        f"/submissions/{submission.id}/appeal",
        {"reason": "Tôi đã làm đủ ba phần đề bài yêu cầu."},
        follow_redirects=False,
    )
    assert res.status_code == 303
    page = client.get(res.headers["location"])
    assert "Đang chờ người hướng dẫn xem lại." in page.text
    assert f'action="/submissions/{submission.id}/appeal"' not in page.text


def test_the_levels_page_and_the_admins_mentor_page(client, db, settings, tree, lessons):
    user = make_user(db, tree.hamlet, name="Võ Thị Mai")
    complete_level_one(db, user)
    page_login(client, user)
    assert "Mời bạn làm người hướng dẫn" in client.get("/").text
    page = client.get("/mentor")  # a learner is shown how to become one
    assert (
        "Đăng ký hướng dẫn Bậc 1" in client.get(page.headers.get("location", "/mentor/levels")).text
    )
    res = form_post(client, "/mentor/levels/1/apply", follow_redirects=False)
    assert res.status_code == 303
    assert "Chờ xác nhận" in client.get("/mentor/levels").text
    client.cookies.clear()
    admin = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    page_login(client, admin)
    page = client.get("/admin/mentors")
    assert "Võ Thị Mai" in page.text
    row = db.scalar(select(Mentorship).where(Mentorship.user_id == user.id))
    res = form_post(client, f"/admin/mentors/{row.id}/confirm", follow_redirects=False)
    assert res.status_code == 303
    db.refresh(user)
    assert user.role == Role.mentor
    assert ledger.total_points(db, user.id) == 0
