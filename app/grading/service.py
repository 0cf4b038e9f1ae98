"""The grading job in the database: the submission row is the truth.

    queued ──claim──▶ grading ──store──▶ graded
       ▲                 │
       └──retry/sweep────┘──(attempts spent)──▶ failed

A claim is one atomic UPDATE (status queued → grading, attempts + 1, a lease); the attempt
number it took is the fencing token, so a worker whose lease expired cannot store over the
one that took the job after it. Storing the grade, its history row, the learner's progress
and points is one transaction keyed by the submission; points carry idempotency keys, so a
retry never counts twice. Functions here flush; the caller commits."""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.clock import day_start, local_day
from app.core.media import media_path
from app.db import upsert_insert
from app.grading.pipeline import Verdict, finish
from app.grading.similarity import grams, hamming, simhash
from app.grading.types import CriterionGrade, GradeOutcome, GradingTask
from app.learning import progress
from app.learning.submissions import MEDIA_FOLDER
from app.mentoring import review
from app.models import (
    GradeRecord,
    LessonProgress,
    LessonVersion,
    Submission,
    SubmissionKind,
    SubmissionStatus,
)
from app.reports import staleness

REDISPATCH_AFTER = timedelta(seconds=60)  # a kick that was lost is repeated after this
NEAR_DUPLICATE_BITS = 10  # SimHash distance below which texts are compared in full
NEAR_DUPLICATE_WINDOW = 500  # recent submissions of the lesson compared with
NEAR_DUPLICATE_CHECKS = 10  # of those, the closest compared in full


@dataclass
class Claim:
    submission_id: int
    attempt: int
    user_id: int
    lesson_id: str
    kind: SubmissionKind
    task: GradingTask
    fingerprint: int
    reuse: GradeOutcome | None = None  # an identical submission's grade
    duplicates: list[int] = field(default_factory=list)  # other learners' near-copies


TaskCache = dict[tuple[int, str], GradingTask]


def claim_many(
    session: Session,
    *,
    submission_ids: list[int],
    settings: Settings,
    now: datetime,
    tasks: TaskCache | None = None,
    recent: RecentFingerprints | None = None,
) -> dict[int, Claim]:
    """Take the queued, due submissions among `submission_ids` in one statement (the ones
    another worker holds, or that are not due, are left out). `tasks` caches the grading
    task of each lesson version (versions never change)."""
    taken = session.execute(
        update(Submission)
        .where(
            Submission.id.in_(submission_ids),
            Submission.status == SubmissionStatus.queued,
            or_(Submission.available_at.is_(None), Submission.available_at <= now),
        )
        .values(
            status=SubmissionStatus.grading,
            attempts=Submission.attempts + 1,
            lease_until=now + timedelta(seconds=settings.grading_lease_seconds),
            dispatched_at=now,
        )
        .returning(
            Submission.id,
            Submission.attempts,
            Submission.user_id,
            Submission.lesson_id,
            Submission.lesson_version_id,
            Submission.kind,
            Submission.text,
            Submission.text_sha256,
            Submission.image_name,
        )
        .execution_options(synchronize_session=False)
    ).all()
    cache = tasks if tasks is not None else {}
    claims: dict[int, Claim] = {}
    identity: dict[int, tuple[int, str]] = {}  # submission → (version, text sha), text only
    for sid, attempt, user_id, lesson_id, version_id, kind, text, text_sha, image_name in taken:
        kind = SubmissionKind(kind)
        template = cache.get((version_id, kind.value))
        if template is None:
            content = session.scalar(
                select(LessonVersion.content).where(LessonVersion.id == version_id)
            )
            template = GradingTask.from_content(content, kind=kind.value, text="")
            cache[(version_id, kind.value)] = template
        image = None
        if image_name:
            path = media_path(settings.media_dir, MEDIA_FOLDER, image_name)
            image = path.read_bytes() if path else None
        else:
            identity[sid] = (version_id, text_sha)
        task = replace(template, text=text, image=image)
        claims[sid] = Claim(sid, attempt, user_id, lesson_id, kind, task, simhash(text))
    _identical_grades(session, claims, identity)
    _near_duplicates(session, list(claims.values()), settings, recent or RecentFingerprints())
    return claims


def claim(
    session: Session, *, submission_id: int, settings: Settings, now: datetime
) -> Claim | None:
    """One submission (see claim_many)."""
    return claim_many(session, submission_ids=[submission_id], settings=settings, now=now).get(
        submission_id
    )


def _identical_grades(
    session: Session, claims: dict[int, Claim], identity: dict[int, tuple[int, str]]
) -> None:
    """Give each claim the final grade of the same text to the same lesson version, when
    one exists (a copy from another learner is flagged)."""
    if not identity:
        return
    earlier = session.execute(
        select(
            Submission.id,
            Submission.lesson_version_id,
            Submission.kind,
            Submission.text_sha256,
            Submission.user_id,
            Submission.result,
            Submission.confidence,
            Submission.grader,
        )
        .where(  # the (version, kind, sha) index
            Submission.lesson_version_id.in_({version for version, _ in identity.values()}),
            Submission.text_sha256.in_({sha for _, sha in identity.values()}),
            Submission.status == SubmissionStatus.graded,
            Submission.provisional.is_(False),
            Submission.image_name.is_(None),
        )
        .order_by(Submission.id)
    ).all()
    first: dict[tuple[int, str, str], Any] = {}
    for other in earlier:
        first.setdefault((other.lesson_version_id, other.kind.value, other.text_sha256), other)
    for sid, (version_id, text_sha) in identity.items():
        claim_ = claims[sid]
        other = first.get((version_id, claim_.kind.value, text_sha))
        if other is None or other.id == sid or not other.result:
            continue
        claim_.reuse = GradeOutcome(
            grader="reuse",
            model=other.grader,
            criteria=[
                CriterionGrade(c["id"], int(c["score"]), c.get("comment") or "")
                for c in other.result.get("criteria", [])
            ],
            feedback=other.result.get("feedback") or "",
            confidence=other.confidence if other.confidence is not None else 0.8,
            flags=["near_duplicate"] if other.user_id != claim_.user_id else [],
        )


class RecentFingerprints:
    """The SimHash of recent submissions per lesson and kind, kept in the grading process
    (read from the database when first needed, then every `refresh` seconds, and added to
    as this process grades), so a claim compares against them without a query."""

    def __init__(self, refresh: float = 30.0) -> None:
        self.refresh = refresh
        self._groups: dict[tuple[str, str], tuple[float, deque[tuple[int, int, int]]]] = {}

    def get(self, session: Session, lesson_id: str, kind: SubmissionKind):  # type: ignore[no-untyped-def]
        key = (lesson_id, kind.value)
        loaded = self._groups.get(key)
        if loaded is None or time.monotonic() - loaded[0] > self.refresh:
            rows = session.execute(
                select(Submission.id, Submission.user_id, Submission.fingerprint)
                .where(
                    Submission.lesson_id == lesson_id,
                    Submission.kind == kind,
                    Submission.fingerprint.is_not(None),
                )
                .order_by(Submission.id.desc())
                .limit(NEAR_DUPLICATE_WINDOW)
            ).all()
            recent = deque(
                ((sid, uid, fp) for sid, uid, fp in reversed(rows)), maxlen=NEAR_DUPLICATE_WINDOW
            )
            loaded = (time.monotonic(), recent)
            self._groups[key] = loaded
        return loaded[1]

    def add(self, claim_: Claim) -> None:
        loaded = self._groups.get((claim_.lesson_id, claim_.kind.value))
        if loaded is not None:
            loaded[1].append((claim_.submission_id, claim_.user_id, claim_.fingerprint))


def _near_duplicates(
    session: Session, claims: list[Claim], settings: Settings, recent: RecentFingerprints
) -> None:
    """Mark each claim's near-copies among other learners' recent submissions to the same
    lesson: SimHash first (cheap), then the closest few compared in full."""
    wanted: dict[int, list[int]] = {}
    for claim_ in claims:
        close = sorted(
            (distance, sid)
            for sid, user_id, fp in recent.get(session, claim_.lesson_id, claim_.kind)
            if user_id != claim_.user_id
            and (distance := hamming(fp, claim_.fingerprint)) <= NEAR_DUPLICATE_BITS
        )[:NEAR_DUPLICATE_CHECKS]
        if close:
            wanted[claim_.submission_id] = [sid for _, sid in close]
    if not wanted:
        return
    ids = {sid for candidates in wanted.values() for sid in candidates}
    texts = {
        sid: text
        for sid, text in session.execute(
            select(Submission.id, Submission.text).where(Submission.id.in_(ids))
        )
    }
    for claim_ in claims:
        candidates = wanted.get(claim_.submission_id)
        if not candidates:
            continue
        mine = set(grams(claim_.task.text))
        for sid in candidates:
            theirs = set(grams(texts[sid]))
            overlap = len(mine & theirs) / max(1, len(mine | theirs))
            if overlap >= settings.near_duplicate_similarity:
                claim_.duplicates.append(sid)
        claim_.duplicates.sort()


def verdict_for(claim_: Claim, verdict: Verdict | None, settings: Settings) -> Verdict:
    """An identical earlier grade is reused as is; near-copies are flagged either way."""
    if verdict is None:
        assert claim_.reuse is not None
        verdict = finish(claim_.task, claim_.reuse, [], settings)
    if claim_.duplicates and "near_duplicate" not in verdict.flags:
        verdict.flags.append("near_duplicate")
        verdict.needs_review = True
    return verdict


def store_many(
    session: Session,
    *,
    items: list[tuple[Claim, Verdict]],
    settings: Settings,
    now: datetime,
) -> dict[int, bool]:
    """Save each grade if its worker still holds the job: the submission, its history
    row, the learner's progress and points, all in the caller's one transaction; rows are
    locked in one order (submissions by id, then learner and lesson) so batches stored in
    parallel never wait on each other in a cycle. Returns submission id → saved."""
    ordered = sorted(items, key=lambda item: item[0].submission_id)
    # which jobs this worker still holds: the row is still `grading` at the attempt it
    # claimed (a worker whose lease expired is fenced off); PostgreSQL locks those rows
    wanted = [(c.submission_id, c.attempt) for c, _ in ordered]
    held = {
        (sid, attempt)
        for sid, attempt in session.execute(
            select(Submission.id, Submission.attempts)
            .where(
                tuple_(Submission.id, Submission.attempts).in_(wanted),
                Submission.status == SubmissionStatus.grading,
            )
            .order_by(Submission.id)
            .with_for_update()
        )
    }
    saved = {c.submission_id: (c.submission_id, c.attempt) in held for c, _ in ordered}
    kept: list[tuple[Claim, Verdict, dict[str, Any]]] = []
    rows: list[dict[str, Any]] = []
    for claim_, verdict in ordered:
        if not saved[claim_.submission_id]:
            continue
        outcome = verdict.outcome
        result: dict[str, Any] = outcome.result_json()
        if claim_.duplicates:
            result["duplicates"] = claim_.duplicates
        kept.append((claim_, verdict, result))
        rows.append(
            {
                "id": claim_.submission_id,
                "status": SubmissionStatus.graded,
                "score": verdict.score,
                "passed": verdict.passed,
                "result": result,
                "grader": outcome.grader,
                "graded_at": now,
                "confidence": outcome.confidence,
                "provisional": outcome.provisional,
                "flags": verdict.flags,
                "needs_review": verdict.needs_review,
                "fingerprint": claim_.fingerprint,
                "lease_until": None,
                "last_error": None,
            }
        )
    if rows:  # one executemany by primary key (a pipeline on PostgreSQL)
        session.execute(update(Submission), rows)
    if not kept:
        return saved
    session.execute(  # the history rows: one executemany, nothing to read back
        insert(GradeRecord),
        [
            {
                "submission_id": claim_.submission_id,
                "attempt": claim_.attempt,
                "grader": verdict.outcome.grader,
                "model": verdict.outcome.model,
                "score": verdict.score,
                "passed": verdict.passed,
                "confidence": verdict.outcome.confidence,
                "provisional": verdict.outcome.provisional,
                "result": {**result, "flags": verdict.flags},
                "tokens_in": verdict.outcome.tokens_in,
                "tokens_out": verdict.outcome.tokens_out,
                "cost_usd": verdict.outcome.cost_usd,
                "latency_ms": verdict.outcome.latency_ms,
            }
            for claim_, verdict, result in kept
        ],
    )
    pairs = {(c.user_id, c.lesson_id) for c, _, _ in kept}
    key = tuple_(LessonProgress.user_id, LessonProgress.lesson_id)
    # loaded into the identity map (and held here: it keeps weak references) so that
    # record_grade finds each learner's progress without another query; rows another
    # batch may be creating at the same moment are inserted with ON CONFLICT DO NOTHING
    held_rows = session.scalars(select(LessonProgress).where(key.in_(pairs))).all()
    missing = pairs - {(row.user_id, row.lesson_id) for row in held_rows}
    if missing:
        dialect_insert = upsert_insert(session)
        session.execute(
            dialect_insert(LessonProgress)
            .values(
                [
                    {
                        "user_id": user_id,
                        "lesson_id": lesson_id,
                        "quiz_attempts": 0,
                        "submissions": 0,
                        "last_activity_at": now,
                    }
                    for user_id, lesson_id in sorted(missing)
                ]
            )
            .on_conflict_do_nothing()
        )
        held_rows += session.scalars(select(LessonProgress).where(key.in_(missing))).all()
    for claim_, verdict, _ in sorted(kept, key=lambda k: (k[0].user_id, k[0].lesson_id)):
        progress.record_grade(
            session,
            user_id=claim_.user_id,
            lesson_id=claim_.lesson_id,
            kind=claim_.kind,
            score=verdict.score,
            passed=verdict.passed,
            submission_id=claim_.submission_id,
            ref=f"s{claim_.submission_id}a{claim_.attempt}",
            settings=settings,
            now=now,
        )
    review.enqueue_graded(
        session,
        grades=[
            review.Graded(
                submission_id=claim_.submission_id,
                user_id=claim_.user_id,
                lesson_id=claim_.lesson_id,
                score=verdict.score,
                passed=verdict.passed,
                flags=tuple(verdict.flags),
                needs_review=verdict.needs_review,
            )
            for claim_, verdict, _ in kept
        ],
        settings=settings,
    )
    session.flush()
    del held_rows
    return saved


def store(
    session: Session, *, claim_: Claim, verdict: Verdict, settings: Settings, now: datetime
) -> bool:
    """One grade (see store_many)."""
    return store_many(session, items=[(claim_, verdict)], settings=settings, now=now)[
        claim_.submission_id
    ]


def retry_later(
    session: Session, *, claim_: Claim, error: str, settings: Settings, now: datetime
) -> str:
    """Put a job that failed back in the queue with backoff, or fail it for good."""
    final = claim_.attempt >= settings.grading_max_attempts
    delay = min(300.0, 2.0 * 2**claim_.attempt) + random.uniform(0, 2.0)
    session.execute(
        update(Submission)
        .where(
            Submission.id == claim_.submission_id,
            Submission.status == SubmissionStatus.grading,
            Submission.attempts == claim_.attempt,
        )
        .values(
            status=_given_up() if final else SubmissionStatus.queued,
            available_at=None if final else now + timedelta(seconds=delay),
            dispatched_at=None,
            lease_until=None,
            last_error=error[:300],
        )
        .execution_options(synchronize_session=False)
    )
    return "failed" if final else "queued"


def _given_up():  # type: ignore[no-untyped-def]
    """A job out of attempts fails, unless it was a re-grade: the earlier grade stands."""
    return case(
        (Submission.score.is_not(None), SubmissionStatus.graded.value),
        else_=SubmissionStatus.failed.value,
    )


def sweep(session: Session, *, settings: Settings, now: datetime) -> int:
    """Jobs whose worker vanished (lease expired) go back to the queue, or fail for good."""
    expired = and_(Submission.status == SubmissionStatus.grading, Submission.lease_until < now)
    failed = session.execute(
        update(Submission)
        .where(expired, Submission.attempts >= settings.grading_max_attempts)
        .values(status=_given_up(), lease_until=None, last_error="lease expired")
        .execution_options(synchronize_session=False)
    ).rowcount
    requeued = session.execute(
        update(Submission)
        .where(expired)
        .values(
            status=SubmissionStatus.queued,
            available_at=now,
            dispatched_at=None,
            lease_until=None,
            last_error="lease expired",
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return int(failed or 0) + int(requeued or 0)


def due(session: Session, *, now: datetime, limit: int) -> list[int]:
    """Queued jobs that were never handed to the engine (or whose hand-off was lost),
    marked as handed over now. Several relays may run: PostgreSQL skips rows another
    relay holds."""
    stmt = (
        select(Submission.id)
        .where(
            Submission.status == SubmissionStatus.queued,
            or_(Submission.available_at.is_(None), Submission.available_at <= now),
            or_(
                Submission.dispatched_at.is_(None),
                Submission.dispatched_at < now - REDISPATCH_AFTER,
            ),
        )
        .order_by(Submission.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list(session.scalars(stmt))
    if ids:
        session.execute(
            update(Submission)
            .where(Submission.id.in_(ids))
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


def requeue_provisional(session: Session, *, now: datetime, limit: int) -> int:
    """Provisional grades (given offline while the LLM was away) are graded again once it
    is back; the provisional grade stays visible meanwhile. The days they were graded on
    leave the report rollups (their scores count again on the day of the new grade)."""
    rows = session.execute(
        select(Submission.id, Submission.graded_at)
        .where(Submission.status == SubmissionStatus.graded, Submission.provisional.is_(True))
        .order_by(Submission.id)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    ids = [sid for sid, _ in rows]
    graded = [at for _, at in rows if at is not None]
    if graded:
        staleness.mark_moment(session, min(graded))
    return int(
        session.execute(
            update(Submission)
            .where(Submission.id.in_(ids), Submission.status == SubmissionStatus.graded)
            .values(status=SubmissionStatus.queued, available_at=now, dispatched_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )


def spent_today(session: Session, *, settings: Settings, now: datetime) -> float:
    start = day_start(local_day(now, settings.tz), settings.tz)
    total = session.scalar(
        select(func.coalesce(func.sum(GradeRecord.cost_usd), 0.0)).where(
            GradeRecord.created_at >= start
        )
    )
    return float(total or 0.0)


def queue_depth(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Submission.status, func.count()).group_by(Submission.status)
    ).all()
    return {status.value: int(n) for status, n in rows}
