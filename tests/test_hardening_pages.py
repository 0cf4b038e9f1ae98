"""Hardening found by an outside review: no database work on the event loop (and the guard
that finds it anywhere in the suite), the level's final test started by a POST only, a
draft written under one account never sent under another, and an idle grading worker
that logs nothing alarming while a Redis outage is one warning."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.models import FinalTestAttempt, Role, Submission
from tests.dbutil import TEST_REDIS_URL
from tests.factories import (
    csrf_of,
    form_post,
    group,
    login,
    make_user,
    page_login,
    pass_lesson,
)
from tests.test_mentoring import ALL_THREE, FEEDBACK, flag, graded, make_mentor

L1 = "b1-01-ai-la-gi"
L21 = "b2-01-anh-dau-tien"


@pytest.fixture
def learner(db, tree, lessons):
    return make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung", phone="+84912000951")


# ---- no database work on the event loop ----------------------------------------------------
def test_the_loop_guard_catches_database_work_in_an_async_handler(db, tree, loop_guard):
    """The guard every test runs under: app code that touches the database from an async
    handler (on the event loop) is reported, and the test fails; the same call from a sync
    handler (FastAPI runs it in a thread) is fine."""
    from app.notifications.service import unread_count

    user = make_user(db, tree.hamlet)
    probe = FastAPI()

    @probe.get("/in-a-thread")
    def in_a_thread() -> dict[str, int]:
        return {"unread": unread_count(db, user.id)}

    @probe.get("/on-the-loop")
    async def on_the_loop() -> dict[str, int]:
        return {"unread": unread_count(db, user.id)}

    with TestClient(probe) as client:
        assert client.get("/in-a-thread").json() == {"unread": 0}
        assert loop_guard.take() == []
        assert client.get("/on-the-loop").json() == {"unread": 0}
        found = loop_guard.take()
        assert found and "notifications" in found[0] and "unread_count" in found[0]
        client.get("/on-the-loop")
    with pytest.raises(AssertionError, match="event loop"):
        loop_guard.check()  # what the suite's hook raises after each test phase
    assert loop_guard.take() == []


def test_the_mentor_review_form_works_off_the_loop(
    client, db, settings, tree, lessons, learner, loop_guard
):
    mentor = make_mentor(db, settings, tree.ward)
    item = flag(db, settings, graded(db, learner, score=40.0))
    page_login(client, mentor)
    csrf_of(client, f"/mentor/items/{item.id}")
    missing = form_post(
        client, f"/mentor/items/{item.id}", {"score_cau_lenh": "3", "feedback": FEEDBACK}
    )
    assert missing.status_code == 422 and "Hỏi tiếp để AI sửa cho vừa ý" in missing.text
    assert loop_guard.take() == []
    done = form_post(
        client,
        f"/mentor/items/{item.id}",
        {**{f"score_{k}": str(v) for k, v in ALL_THREE.items()}, "feedback": FEEDBACK},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/mentor?done=review"
    assert loop_guard.take() == []


def test_the_target_forms_work_off_the_loop(client, db, tree, loop_guard):
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị", phone="+84912000952")
    can_bo = group(db, "can_bo")
    page_login(client, admin)
    csrf_of(client, "/admin/targets")
    bad = form_post(
        client,
        f"/admin/targets?unit_id={tree.ward.id}",
        {"working_age": "1.200", f"group_{can_bo.id}": "abc"},
    )
    assert bad.status_code == 422 and "không hợp lệ" in bad.text
    assert loop_guard.take() == []
    saved = form_post(
        client,
        f"/admin/targets?unit_id={tree.ward.id}",
        {"working_age": "1.200"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    db.refresh(tree.ward)
    assert tree.ward.target_population == 1200
    assert loop_guard.take() == []
    bad = form_post(client, "/admin/targets/groups", {f"join_{can_bo.id}": "101"})
    assert bad.status_code == 422 and "không hợp lệ cho nhóm" in bad.text
    assert loop_guard.take() == []
    saved = form_post(
        client, "/admin/targets/groups", {f"join_{can_bo.id}": "40"}, follow_redirects=False
    )
    assert saved.status_code == 303
    db.refresh(can_bo)
    assert can_bo.join_target_pct == 40
    assert loop_guard.take() == []


# ---- the final test starts with a POST --------------------------------------------------------
def sittings(db) -> int:
    return db.scalar(select(func.count()).select_from(FinalTestAttempt))


def test_opening_the_final_test_never_starts_a_sitting(db, settings, learner, client):
    """GET (the API or the page) shows the rules and a running sitting; only a POST starts
    one (using one of the day's attempts), so a link or a cross-site navigation cannot."""
    pass_lesson(db, settings, learner, L21, 90)
    headers = login(client, learner)
    for _ in range(3):
        res = client.get("/api/v1/levels/2/final-test", headers=headers)
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["sitting"] is None and body["can_start"] is True
        assert (body["questions"], body["minutes"], body["pass_mark"]) == (6, 15, 70)
        assert (body["attempts_per_day"], body["attempts_left_today"]) == (2, 2)
    page_login(client, learner)
    for _ in range(3):
        page = client.get("/levels/2/final-test")
        assert page.status_code == 200
        assert '<fieldset class="question"' not in page.text
        assert 'action="/levels/2/final-test/start"' in page.text and "Bắt đầu" in page.text
        assert "còn 2 lượt" in page.text
    assert sittings(db) == 0
    # a cross-site form (no CSRF token) and a cookie-authenticated API call without the
    # header cannot start one either
    assert client.post("/levels/2/final-test/start", follow_redirects=False).status_code == 403
    assert client.post("/api/v1/levels/2/final-test/start").status_code == 403
    assert sittings(db) == 0

    started = form_post(client, "/levels/2/final-test/start", follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"] == "/levels/2/final-test"
    page = client.get("/levels/2/final-test")
    assert page.text.count('<fieldset class="question"') == 6
    attempt_id = int(page.text.split('name="attempt_id" value="')[1].split('"')[0])
    assert f'name="attempt_id" value="{attempt_id}"' in client.get("/levels/2/final-test").text
    again = form_post(client, "/levels/2/final-test/start", follow_redirects=False)
    assert again.status_code == 303  # the running sitting, not a second one
    res = client.post("/api/v1/levels/2/final-test/start", headers=headers)
    assert res.status_code == 200 and res.json()["attempt_id"] == attempt_id
    state = client.get("/api/v1/levels/2/final-test", headers=headers).json()
    assert state["sitting"]["attempt_id"] == attempt_id and state["attempts_left_today"] == 1
    assert "right" not in str(state["sitting"]["questions"])
    assert sittings(db) == 1


def test_a_blocked_final_test_says_why_without_starting(db, settings, learner, client):
    headers = login(client, learner)
    page_login(client, learner)
    page = client.get("/levels/2/final-test")
    assert page.status_code == 200 and "hoàn thành đủ 1 bài học" in page.text
    assert 'action="/levels/2/final-test/start"' not in page.text
    res = form_post(client, "/levels/2/final-test/start")
    assert res.status_code == 409 and "hoàn thành đủ 1 bài học" in res.text
    assert res.text.count("hoàn thành đủ 1 bài học") == 1
    state = client.get("/api/v1/levels/2/final-test", headers=headers).json()
    assert state["can_start"] is False and state["blocked_code"] == "lessons_first"
    assert "hoàn thành đủ 1 bài học" in state["blocked"]
    res = client.post("/api/v1/levels/2/final-test/start", headers=headers)
    assert res.status_code == 409 and res.json()["code"] == "lessons_first"
    assert client.get("/api/v1/levels/1/final-test", headers=headers).status_code == 404
    assert client.post("/api/v1/levels/1/final-test/start", headers=headers).status_code == 404
    assert sittings(db) == 0


# ---- a draft belongs to the account it was written under --------------------------------------
DRAFT = (
    "Câu hỏi 1: Tôi là Nguyễn Thị Hồng Nhung, số điện thoại 0912000951, hãy giúp tôi viết tin "
    "nhắn mời họp tổ dân phố. Câu hỏi 2: viết ngắn hơn. Nhận xét: AI trả lời đúng ý."
)


def submissions_of(db, user) -> list[Submission]:
    return list(db.scalars(select(Submission).where(Submission.user_id == user.id)))


def test_a_draft_from_another_account_is_never_sent_under_this_one(db, tree, lessons, client):
    """A phone shared by a household: A's draft, re-sent by a page A opened, reaches the
    server while B is signed in. It names A's account, so it is refused (and its text is
    not shown to B); B's own sends go through."""
    a = make_user(db, tree.hamlet, name="Người A", phone="+84912000953")
    b = make_user(db, tree.hamlet, name="Người B", phone="+84912000954")
    headers = login(client, b)
    form = {"text": DRAFT, "client_id": uuid.uuid4().hex, "kind": "challenge"}
    res = client.post(
        f"/api/v1/lessons/{L1}/submissions", headers=headers, data={**form, "account": str(a.id)}
    )
    assert res.status_code == 409 and res.json()["code"] == "other_account"
    assert "tài khoản khác" in res.json()["detail"]
    res = client.post(
        f"/api/v1/lessons/{L1}/submissions", headers=headers, data={**form, "account": "x"}
    )
    assert res.status_code == 422
    assert submissions_of(db, a) == [] and submissions_of(db, b) == []

    page_login(client, b)
    lesson = client.get(f"/lessons/{L1}")
    assert f'<meta name="bdhai-account" content="{b.id}">' in lesson.text
    assert len(re.findall(rf'name="account" value="{b.id}"', lesson.text)) == 2
    res = form_post(client, f"/lessons/{L1}/submit", {**form, "account": str(a.id)})
    assert res.status_code == 409 and "tài khoản khác" in res.text
    assert "0912000951" not in res.text  # A's words are not shown to B
    assert submissions_of(db, a) == [] and submissions_of(db, b) == []
    res = form_post(
        client, f"/lessons/{L1}/submit", {**form, "account": str(b.id)}, follow_redirects=False
    )
    assert res.status_code == 303
    assert [s.text for s in submissions_of(db, b)] == [DRAFT]
    client.cookies.clear()
    assert 'name="bdhai-account"' not in client.get("/login").text


# ---- the grading worker on Redis -------------------------------------------------------------
IDLE_SECONDS = 7  # past redis-py's default 5 s socket timeout


def quiet(caplog) -> list[str]:
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING or r.exc_info
    ]


@pytest.mark.once  # the server's or worker's behaviour, not the database's
@pytest.mark.redis
def test_an_idle_worker_logs_nothing_alarming(settings, engine, caplog):
    """`bdhai worker`'s consumer loop waiting on an empty queue: its blocking reads return
    when idle and are asked again; no timeout, no traceback, nothing above INFO."""
    from app.db import make_sessionmaker
    from app.grading.engine import GradingEngine, GradingQueueBroker

    live = settings.model_copy(update={"redis_url": TEST_REDIS_URL})
    queue = f"bdhai:test-idle:{uuid.uuid4().hex}"

    async def main() -> None:
        broker = GradingQueueBroker(TEST_REDIS_URL, queue_name=queue)
        grading = GradingEngine(live, make_sessionmaker(engine), external=True, broker=broker)
        await grading.start(consume=True, relay=False)
        await asyncio.sleep(IDLE_SECONDS)
        assert all(not task.done() for task in grading._tasks)
        await grading.stop()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
    assert quiet(caplog) == []


@pytest.mark.once  # the server's or worker's behaviour, not the database's
def test_a_worker_whose_redis_is_down_warns_once_and_keeps_trying(settings, engine, caplog):
    from app.db import make_sessionmaker
    from app.grading.engine import GradingEngine, GradingQueueBroker
    from tests.browser import free_port

    down = f"redis://127.0.0.1:{free_port()}/15"  # nothing listens there
    live = settings.model_copy(update={"redis_url": down})
    tries: list[int] = []

    async def main() -> None:
        broker = GradingQueueBroker(down, queue_name="bdhai:test-down", retry_delays=(0.1,))
        grading = GradingEngine(live, make_sessionmaker(engine), external=True, broker=broker)
        await grading.start(consume=True, relay=False)
        await grading.kick(1)  # a web process handing over a job while Redis is away
        await asyncio.sleep(2)
        assert all(not task.done() for task in grading._tasks)  # still running
        tries.append(broker.failures)
        await grading.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
    assert tries[0] > 3  # it kept trying
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "Redis" in warnings[0].getMessage() and warnings[0].levelno == logging.WARNING
    assert not any(r.exc_info for r in caplog.records)
