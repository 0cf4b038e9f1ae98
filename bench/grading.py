"""Gradings per second for one grading process, against a local server that speaks the
OpenAI chat-completions protocol and answers after 1.5 s (a real model's latency). The
target is at least 100 gradings a second per worker process.

Run: .venv/bin/python bench/grading.py [N] [--database URL] [--latency SECONDS]
     [--concurrency C]
(default: 2,000 submissions, a fresh SQLite file, 1.5 s, GRADING_CONCURRENCY=300).
With --database postgresql+psycopg://…/db it uses that (empty) database.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import ROOT_DIR, Settings  # noqa: E402
from app.curriculum.loader import sync_curriculum  # noqa: E402
from app.curriculum.validate import load_curriculum  # noqa: E402
from app.db import make_engine, make_sessionmaker  # noqa: E402
from app.grading.engine import GradingEngine  # noqa: E402
from app.migrations import upgrade  # noqa: E402
from app.models import (  # noqa: E402
    GradeRecord,
    LessonVersion,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    utcnow,
)
from app.orgs.service import ensure_default_groups  # noqa: E402
from tests import factories  # noqa: E402
from tests.browser import free_port  # noqa: E402

LESSON = "b1-01-ai-la-gi"
VOCABULARY = (
    "tôi là công chức xã hỏi AI giúp viết giấy mời họp thôn thêm ví dụ ngắn hơn kiểm tra "
    "số liệu nguồn chính thống trợ lý trả lời đúng ý chưa đúng tên văn bản nghị định cần "
    "sửa lại hợp tác xã chè tạp hóa nông dân trạm y tế trường học khách hàng bài đăng"
)
WORDS = VOCABULARY.split()


def answers(n: int) -> list[str]:
    rng = random.Random(7)
    return [
        "Câu hỏi 1: "
        + " ".join(rng.choices(WORDS, k=40))
        + ". Nhận xét: "
        + " ".join(rng.choices(WORDS, k=25))
        + "."
        for _ in range(n)
    ]


def prepare(url: str, n: int) -> list[int]:
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        ensure_default_groups(session)
        sync_curriculum(session, load_curriculum(ROOT_DIR / "curriculum"))
        tree = factories.make_tree(session)
        users = [
            factories.make_user(session, tree.hamlet, phone=f"+849130{k:05d}").id for k in range(50)
        ]
        version = session.scalar(select(LessonVersion.id).where(LessonVersion.lesson_id == LESSON))
        rows = [
            Submission(
                user_id=users[k % len(users)],
                lesson_id=LESSON,
                lesson_version_id=version,
                kind=SubmissionKind.challenge,
                status=SubmissionStatus.queued,
                client_id=uuid.uuid4().hex,
                day=utcnow().date(),
                text=text,
                text_sha256=hashlib.sha256(text.encode()).hexdigest(),
                dispatched_at=utcnow(),  # kicked below, not by the relay
            )
            for k, text in enumerate(answers(n))
        ]
        session.add_all(rows)
        session.commit()
        ids = [r.id for r in rows]
    engine.dispose()
    return ids


async def run(url: str, ids: list[int], fake_url: str, concurrency: int) -> tuple[float, int]:
    settings = Settings(
        environment="test",
        database_url=url,
        grader="llm",
        openai_base_url=fake_url,
        openai_api_key="sk-bench",
        grading_concurrency=concurrency,
        grader_timeout_seconds=60,
    )
    engine = (
        make_engine(url, pool_size=32, max_overflow=32) if "postgresql" in url else make_engine(url)
    )
    sessions = make_sessionmaker(engine)
    grading = GradingEngine(settings, sessions, external=False)
    await grading.start(consume=True, relay=False)
    started = time.perf_counter()
    for submission_id in ids:
        await grading.kick(submission_id)
    while True:
        with sessions() as session:
            left = session.scalar(
                select(func.count())
                .select_from(Submission)
                .where(Submission.status != SubmissionStatus.graded)
            )
        if not left:
            break
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - started
    await grading.stop()
    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(GradeRecord))
    engine.dispose()
    return elapsed, int(stored or 0)


def wait_for_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the fake LLM server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=2000)
    parser.add_argument("--database")
    parser.add_argument("--latency", type=float, default=1.5)
    parser.add_argument("--concurrency", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        ids = prepare(url, args.n)
        port = free_port()
        server = subprocess.Popen(  # the fake LLM in its own process: it costs CPU too
            [sys.executable, "-m", "tests.fake_openai", str(port), str(args.latency)], cwd=ROOT
        )
        try:
            wait_for_port(port)
            elapsed, stored = asyncio.run(
                run(url, ids, f"http://127.0.0.1:{port}/v1", args.concurrency)
            )
        finally:
            server.terminate()
            server.wait(10)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        database = "PostgreSQL" if "postgresql" in url else "SQLite"
        print(
            f"{stored} gradings in {elapsed:.1f} s = {stored / elapsed:.0f} gradings/s "
            f"(one grading process, {database}, LLM latency {args.latency} s, "
            f"concurrency {args.concurrency}); peak RSS of the grading process {rss:.0f} MiB"
        )


if __name__ == "__main__":
    main()
