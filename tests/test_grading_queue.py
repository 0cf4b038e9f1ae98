"""The grading queue on a real database: the engine in-process, the relay and the sweeper,
fencing after a lost lease, retries, reuse of identical grades, near-duplicates, provisional
grades re-graded when the LLM is back, and `bdhai worker` processes on Redis (killed
mid-job; 1,000 submissions through two of them)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import ROOT_DIR, Settings
from app.curriculum.loader import sync_curriculum
from app.curriculum.validate import load_curriculum
from app.db import make_engine, make_sessionmaker
from app.grading import service
from app.grading.engine import QUEUE_NAME, GradingEngine
from app.grading.pipeline import Graders
from app.migrations import upgrade
from app.models import (
    GradeRecord,
    LessonProgress,
    LessonVersion,
    PointEvent,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    utcnow,
)
from app.orgs.service import ensure_default_groups
from tests import factories
from tests.dbutil import TEST_REDIS_URL, is_postgres, scratch_database
from tests.fake_openai import FakeOpenAI, Reply
from tests.lessons import GOOD_TEXT, L1

FIXTURE = ROOT_DIR / "tests" / "fixtures" / "curriculum"


@pytest.fixture(scope="module")
def world(tmp_path_factory, settings):
    with scratch_database(tmp_path_factory.mktemp("grading"), "grading") as url:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            ensure_default_groups(session)
            sync_curriculum(session, load_curriculum(FIXTURE))
            tree = factories.make_tree(session)
            session.commit()
            hamlet_id = tree.hamlet.id
        yield {
            "url": url,
            "engine": engine,
            "sessions": make_sessionmaker(engine),
            "hamlet": hamlet_id,
            "settings": settings.model_copy(update={"database_url": url}),
        }
        engine.dispose()


def learner(world) -> int:
    with world["sessions"]() as session:
        unit = session.get(factories.Unit, world["hamlet"])
        user = factories.make_user(session, unit, phone=f"+8491{uuid.uuid4().int % 10**7:07d}")
        session.add(
            LessonProgress(
                user_id=user.id,
                lesson_id=L1,
                quiz_attempts=1,
                quiz_best=100,
                quiz_passed_at=utcnow(),
                submissions=0,
                last_activity_at=utcnow(),
            )
        )
        session.commit()
        return user.id


def queued(world, user_id: int, text: str | None = None, lesson: str = L1) -> int:
    """A submission saved as the learning service saves it (status queued); by default its
    text is unique (an identical text would reuse an earlier grade)."""
    text = text or f"{GOOD_TEXT} Mã bài {uuid.uuid4().hex[:8]}."
    with world["sessions"]() as session:
        version = session.scalar(
            select(LessonVersion)
            .where(LessonVersion.lesson_id == lesson)
            .order_by(LessonVersion.version.desc())
        )
        submission = Submission(
            user_id=user_id,
            lesson_id=lesson,
            lesson_version_id=version.id,
            kind=SubmissionKind.challenge,
            status=SubmissionStatus.queued,
            client_id=uuid.uuid4().hex,
            day=utcnow().date(),
            text=text,
            text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        )
        session.add(submission)
        session.commit()
        return submission.id


def row(world, submission_id: int) -> Submission:
    with world["sessions"]() as session:
        return session.get(Submission, submission_id)


def records(world, submission_id: int) -> list[GradeRecord]:
    with world["sessions"]() as session:
        return list(
            session.scalars(
                select(GradeRecord)
                .where(GradeRecord.submission_id == submission_id)
                .order_by(GradeRecord.id)
            )
        )


def kinds(events: list[tuple[str, int]]) -> list[str]:
    """The kinds of a grade's point events: the challenge score, then the lesson, once each."""
    return [kind for kind, _ in events]


def points(world, user_id: int) -> list[tuple[str, int]]:
    with world["sessions"]() as session:
        return [
            (p.kind, p.points)
            for p in session.scalars(select(PointEvent).where(PointEvent.user_id == user_id))
        ]


def run_engine(world, settings: Settings, body, *, graders: Graders | None = None):
    async def main():
        engine = GradingEngine(settings, world["sessions"], external=False, graders=graders)
        await engine.start()
        try:
            return await body(engine)
        finally:
            await engine.stop()

    return asyncio.run(main())


def fast(world, **extra) -> Settings:
    return world["settings"].model_copy(
        update={"grading_relay_seconds": 0.05, "grading_sweep_seconds": 0.1, **extra}
    )


# ---- in-process ---------------------------------------------------------------------------


def test_a_kicked_submission_is_graded_once_with_its_points(world):
    user = learner(world)
    sid = queued(world, user)

    async def body(engine):
        await engine.kick(sid)
        await engine.kick(sid)  # a second kick finds the job taken or done
        await engine.drain()
        return engine.stats

    stats = run_engine(world, fast(world), body)
    graded = row(world, sid)
    assert graded.status == SubmissionStatus.graded and graded.grader == "rubric"
    assert graded.score is not None and graded.passed is True and graded.attempts == 1
    assert [c["id"] for c in graded.result["criteria"]] == ["cau_lenh", "hoi_tiep", "nhan_xet"]
    assert len(records(world, sid)) == 1 and stats.graded == 1
    assert kinds(points(world, user)) == ["challenge_score", "lesson_complete"]


def test_the_relay_grades_what_was_never_kicked(world):
    sid = queued(world, learner(world))

    async def body(engine):
        await engine.drain(timeout=10)

    run_engine(world, fast(world), body)
    assert row(world, sid).status == SubmissionStatus.graded


def test_a_worker_lost_mid_job_loses_nothing_and_counts_once(world):
    user = learner(world)
    sid = queued(world, user)
    settings = fast(world)
    with world["sessions"]() as session:  # a worker takes the job, then dies
        dead = service.claim(session, submission_id=sid, settings=settings, now=utcnow())
        session.commit()
    assert row(world, sid).status == SubmissionStatus.grading
    with world["sessions"]() as session:  # its lease runs out
        session.get(Submission, sid).lease_until = utcnow() - timedelta(seconds=1)
        session.commit()

    async def body(engine):
        await engine.drain(timeout=10)

    run_engine(world, settings, body)
    graded = row(world, sid)
    assert graded.status == SubmissionStatus.graded and graded.attempts == 2
    # the dead worker comes back with its old claim: fenced off by the attempt number
    from app.grading.pipeline import finish

    verdict = finish(dead.task, Graders(settings).rubric.grade(dead.task), [], settings)
    with world["sessions"]() as session:
        assert (
            service.store(session, claim_=dead, verdict=verdict, settings=settings, now=utcnow())
            is False
        )
        session.commit()
    assert len(records(world, sid)) == 1
    assert kinds(points(world, user)) == ["challenge_score", "lesson_complete"]


class Flaky(Graders):
    def __init__(self, settings, failures: int):
        super().__init__(settings)
        self.failures = failures

    async def grade(self, task):
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database hiccup")
        return await super().grade(task)


def test_a_failed_attempt_is_retried_after_a_backoff(world):
    sid = queued(world, learner(world))
    settings = fast(world)

    async def body(engine):
        await engine.kick(sid)
        for _ in range(200):
            waiting = row(world, sid)
            if waiting.status == SubmissionStatus.queued and waiting.last_error:
                break
            await asyncio.sleep(0.02)
        assert waiting.attempts == 1, (waiting.status, waiting.available_at, waiting.last_error)
        assert waiting.available_at > utcnow() and "database hiccup" in waiting.last_error
        with world["sessions"]() as session:  # the backoff has passed
            session.get(Submission, sid).available_at = utcnow()
            session.commit()
        await engine.drain(timeout=10)
        return engine.stats

    stats = run_engine(world, settings, body, graders=Flaky(settings, failures=1))
    graded = row(world, sid)
    assert graded.status == SubmissionStatus.graded and graded.attempts == 2
    assert stats.retried == 1 and len(records(world, sid)) == 1


def test_a_job_out_of_attempts_fails_for_good(world):
    sid = queued(world, learner(world))
    settings = fast(world, grading_max_attempts=1)

    async def body(engine):
        await engine.kick(sid)
        for _ in range(200):
            if row(world, sid).status == SubmissionStatus.failed:
                return
            await asyncio.sleep(0.02)

    run_engine(world, settings, body, graders=Flaky(settings, failures=5))
    failed = row(world, sid)
    assert failed.status == SubmissionStatus.failed and failed.score is None
    assert records(world, sid) == []


def test_identical_answers_reuse_the_grade_and_copies_are_flagged(world):
    text = (
        "Câu hỏi 1: Tôi là chủ hợp tác xã chè ở Tân Cương. Hãy giúp tôi viết tin nhắn Zalo "
        "mời khách mua chè mới, trong 5 ý. Câu hỏi 2: viết ngắn hơn và thêm ví dụ về giá. "
        "Nhận xét: AI viết đúng ý, nhưng tôi phải kiểm tra lại giá và số điện thoại."
    )
    first_user, copier = learner(world), learner(world)
    first = queued(world, first_user, text)
    run_engine(world, fast(world), lambda e: e.drain(timeout=10))
    again = queued(world, first_user, text)  # the same learner sends the same text again
    run_engine(world, fast(world), lambda e: e.drain(timeout=10))
    copy = queued(world, copier, text)
    edited = queued(world, learner(world), text.replace("Tân Cương", "La Bằng"))
    run_engine(world, fast(world), lambda e: e.drain(timeout=10))
    original = row(world, first)
    mine, theirs, near = row(world, again), row(world, copy), row(world, edited)
    assert mine.grader == "reuse" and mine.score == original.score
    assert "near_duplicate" not in mine.flags and not mine.needs_review
    assert theirs.grader == "reuse" and theirs.result["criteria"] == original.result["criteria"]
    assert "near_duplicate" in theirs.flags and theirs.needs_review
    assert near.grader == "rubric" and "near_duplicate" in near.flags and near.needs_review
    assert first in near.result["duplicates"]


def test_provisional_grades_are_graded_again_when_the_llm_is_back(world):
    user = learner(world)
    fake = FakeOpenAI()
    with fake.serve() as url:
        settings = fast(
            world,
            grader="llm",
            openai_base_url=url,
            openai_api_key="sk-test",
            grader_max_attempts=1,
            grader_breaker_failures=100,
        )
        fake.default = Reply(status=500)
        sid = queued(world, user, GOOD_TEXT + " Lần này mạng chập chờn.")

        async def body(engine):
            await engine.kick(sid)
            for _ in range(200):
                if row(world, sid).status == SubmissionStatus.graded:
                    break
                await asyncio.sleep(0.02)
            provisional = row(world, sid)
            assert provisional.provisional and provisional.grader == "rubric"
            assert "provisional" in provisional.flags and provisional.needs_review
            fake.default = Reply(band=3)
            for _ in range(300):
                current = row(world, sid)
                if current.status == SubmissionStatus.graded and not current.provisional:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("not re-graded")

        run_engine(world, settings, body)
    regraded = row(world, sid)
    assert regraded.grader == "llm" and regraded.score == 100 and not regraded.provisional
    graders = [(r.grader, r.provisional) for r in records(world, sid)]
    assert graders[-1] == ("llm", False) and graders[0] == ("rubric", True)
    assert set(graders[:-1]) == {("rubric", True)}  # probes while the LLM was still down
    # the re-grade corrects the challenge points to the new score; the lesson pays once
    events = points(world, user)
    assert kinds(events).count("lesson_complete") == 1 and kinds(events)[0] == "challenge_score"
    assert sum(p for k, p in events if k == "challenge_score") == 30


def test_llm_cost_is_recorded_and_the_daily_budget_switches_to_rubric(world):
    fake = FakeOpenAI()
    with fake.serve() as url:
        settings = fast(
            world,
            grader="llm",
            openai_base_url=url,
            openai_api_key="sk-test",
            grader_price_input_per_mtok=1000.0,  # 900 tokens = 0.90 USD a grade
            grader_daily_budget_usd=500.0,
        )
        with world["sessions"]() as session:
            already = service.spent_today(session, settings=settings, now=utcnow())
        settings = settings.model_copy(update={"grader_daily_budget_usd": already + 0.5})
        first = queued(world, learner(world), GOOD_TEXT + " Hỏi về lịch tiêm chủng.")
        later: list[int] = []

        async def body(engine):
            await engine.kick(first)
            await engine.drain(timeout=10)
            later.append(queued(world, learner(world), GOOD_TEXT + " Hỏi về giá phân bón."))
            await engine.kick(later[0])
            await engine.drain(timeout=10)

        run_engine(world, settings, body)
        second = later[0]
    [paid] = records(world, first)
    assert paid.grader == "llm" and paid.tokens_in == 900 and paid.cost_usd == pytest.approx(0.9)
    [free] = records(world, second)
    assert (
        free.grader == "rubric"
        and free.cost_usd == 0
        and "budget_spent" in row(world, second).flags
    )


# ---- worker processes on Redis --------------------------------------------------------------


def worker(world, env: dict[str, str], log: Path) -> subprocess.Popen:
    full = {
        **os.environ,
        "DATABASE_URL": world["url"],
        "REDIS_URL": TEST_REDIS_URL,
        "ENVIRONMENT": "test",
        "SECRET_KEY": "worker-" + "x" * 40,
        "GRADING_RELAY_SECONDS": "0.2",
        "GRADING_SWEEP_SECONDS": "0.5",
        **env,
    }
    bdhai = Path(sys.executable).with_name("bdhai")
    with log.open("ab") as out:  # a file, not a pipe: nobody has to read it while it runs
        return subprocess.Popen([str(bdhai), "worker"], env=full, stdout=out, stderr=out)


def stop(process: subprocess.Popen, log: Path) -> str:
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    return log.read_text()


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def clean_queue():
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.delete(QUEUE_NAME)
    yield
    client.delete(QUEUE_NAME)


@pytest.mark.redis
def test_a_worker_killed_mid_job_grades_it_exactly_once_after_restart(world, clean_queue, tmp_path):
    user = learner(world)
    fake = FakeOpenAI()
    with fake.serve() as url:
        env = {
            "GRADER": "llm",
            "OPENAI_BASE_URL": url,
            "OPENAI_API_KEY": "sk-test",
            "GRADING_LEASE_SECONDS": "5",
            "GRADER_TIMEOUT_SECONDS": "120",
        }
        fake.default = Reply(delay=60)  # the first worker hangs on the grader
        sid = queued(world, user, GOOD_TEXT + " Bài nộp khi máy chủ sập.")
        first = worker(world, env, tmp_path / "first.log")
        try:
            wait_for(lambda: row(world, sid).status == SubmissionStatus.grading, 30, "grading")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            first.kill()
        fake.default = Reply(band=3)
        second = worker(world, env, tmp_path / "second.log")
        try:
            wait_for(lambda: row(world, sid).status == SubmissionStatus.graded, 60, "graded")
        finally:
            output = stop(second, tmp_path / "second.log")
    graded = row(world, sid)
    assert graded.attempts == 2 and graded.grader == "llm" and graded.score == 100
    assert len(records(world, sid)) == 1
    assert kinds(points(world, user)) == ["challenge_score", "lesson_complete"]
    assert "stopped: 1 graded" in output


@pytest.mark.redis
@pytest.mark.skipif(not is_postgres(), reason="several worker processes need PostgreSQL")
def test_a_thousand_submissions_through_two_workers_are_each_graded_once(
    world, clean_queue, tmp_path
):
    users = [learner(world) for _ in range(20)]
    with world["sessions"]() as session:
        version = session.scalar(select(LessonVersion.id).where(LessonVersion.lesson_id == L1))
        rows = [
            Submission(
                user_id=users[n % 20],
                lesson_id=L1,
                lesson_version_id=version,
                kind=SubmissionKind.challenge,
                status=SubmissionStatus.queued,
                client_id=uuid.uuid4().hex,
                day=utcnow().date(),
                text=f"{GOOD_TEXT} Bài số {n}: hỏi AI về việc số {n * 7919 % 1000}.",
                text_sha256=uuid.uuid4().hex * 2,
            )
            for n in range(1000)
        ]
        session.add_all(rows)
        session.commit()
        ids = [r.id for r in rows]
    fake = FakeOpenAI(default_delay=0.05)
    with fake.serve() as url:
        env = {"GRADER": "llm", "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-test"}
        logs = [tmp_path / "one.log", tmp_path / "two.log"]
        workers = [worker(world, env, log) for log in logs]
        try:

            def done() -> bool:
                with world["sessions"]() as session:
                    left = session.scalar(
                        select(func.count())
                        .select_from(Submission)
                        .where(Submission.id.in_(ids), Submission.status != SubmissionStatus.graded)
                    )
                return left == 0

            wait_for(done, 120, "1,000 gradings")
        finally:
            outputs = [stop(process, log) for process, log in zip(workers, logs, strict=True)]
    with world["sessions"]() as session:
        per_submission = dict(
            session.execute(
                select(GradeRecord.submission_id, func.count())
                .where(GradeRecord.submission_id.in_(ids))
                .group_by(GradeRecord.submission_id)
            ).all()
        )
    assert len(per_submission) == 1000 and set(per_submission.values()) == {1}
    graded = [int(o.split("stopped: ")[1].split(" graded")[0]) for o in outputs]
    assert sum(graded) == 1000 and all(n > 100 for n in graded), graded  # both did work


def test_the_api_path_a_submission_is_graded_within_seconds(world):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with world["sessions"]() as session:
        unit = session.get(factories.Unit, world["hamlet"])
        user = factories.make_user(session, unit, phone="+84912777001")
        session.commit()
    app = create_app(world["settings"].model_copy(update={"grading_worker": "inprocess"}))
    try:
        with TestClient(app) as client:
            headers = factories.login(client, user)
            sent = client.post(
                f"/api/v1/lessons/{L1}/submissions",
                headers=headers,
                data={"text": GOOD_TEXT + " Gửi qua API.", "client_id": uuid.uuid4().hex},
            )
            assert sent.status_code == 201 and sent.json()["status"] == "queued"
            started = time.monotonic()
            while True:
                got = client.get(f"/api/v1/submissions/{sent.json()['id']}", headers=headers)
                if got.json()["status"] == "graded":
                    break
                assert time.monotonic() - started < 10, got.json()
                time.sleep(0.1)
    finally:
        app.state.engine.dispose()
    body = got.json()
    assert body["grader"] == "rubric" and body["passed"] is True and not body["provisional"]
    assert all(c["score"] is not None and c["comment"] for c in body["criteria"])
    assert body["feedback"].startswith("Bài làm được ")
