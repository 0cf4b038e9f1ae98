"""The grading engine: taskiq moves the jobs, the database says what is to be done.

- Embedded default (`GRADING_WORKER=inprocess`): an in-memory broker; the web process
  grades in its own event loop.
- At scale (`external`, with `REDIS_URL`): web processes only hand job ids to Redis (a
  taskiq list queue); `bdhai worker` processes consume them with blocking reads that return
  when the queue stays empty (`GradingQueueBroker`), so an idle worker logs nothing and a
  Redis outage is one warning, then retries.

A submission is saved as `queued` in the request's transaction; once that commits, its id is
kicked to the broker. The relay loop re-kicks queued rows nobody took (a lost kick, a web
process that died before kicking, a retry whose backoff has passed) and the sweeper puts back
rows whose worker vanished mid-job; so the broker may lose messages and nothing is lost.
Database work runs in a small thread pool; each grading awaits the graders concurrently
(`GRADING_CONCURRENCY` at once per process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session, sessionmaker
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.api import run_receiver_task
from taskiq_redis import ListQueueBroker

from app.config import Settings
from app.core.clock import local_day
from app.gamification.leagues import close_ended_weeks
from app.grading import service
from app.grading.batching import Batcher
from app.grading.pipeline import Graders
from app.models import utcnow
from app.reports import rollups

log = logging.getLogger("bdhai.grading")
T = TypeVar("T")
TASK_NAME = "bdhai.grade_submission"
QUEUE_NAME = "bdhai:grading"
DB_THREADS = 16


BLOCK_SECONDS = 5  # a worker's blocking read on an empty queue returns after this long,
# well within the connection's socket timeout (BLOCK_SECONDS + 10)
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)  # between attempts while Redis is unreachable


class Outage:
    """A lost Redis, logged once as a warning when it goes and once (info) when it is back,
    however many reads and hand-overs fail in between."""

    def __init__(self) -> None:
        self.since: float | None = None

    def down(self, exc: BaseException) -> None:
        cause = exc.__cause__ or exc  # taskiq wraps the client's error in SendTaskError
        if self.since is None:
            self.since = time.monotonic()
            log.warning(
                "Redis unreachable for the grading queue (%s: %s); retrying",
                type(cause).__name__,
                cause,
            )
        else:
            log.debug("Redis still unreachable: %s", exc)

    def up(self) -> None:
        if self.since is not None:
            log.info("Redis reachable again after %.0f s", time.monotonic() - self.since)
            self.since = None


class GradingQueueBroker(ListQueueBroker):
    """taskiq-redis's list queue with a consumer that expects to be idle.

    Its own `listen` blocks on BRPOP with no limit while redis-py gives every read a socket
    timeout (5 s by default): an idle worker's read timed out every few seconds, and taskiq
    logged each one as a traceback and restarted its receiver. Here the blocking read
    returns by itself after `block_seconds` (an empty answer, read again), the socket
    timeout stays well above that (a value in REDIS_URL's query is honoured: the block time
    shrinks under it), and a Redis that does not answer is an `Outage`: one warning, then
    retries with a growing pause until it is back."""

    def __init__(
        self,
        url: str,
        *,
        queue_name: str = QUEUE_NAME,
        block_seconds: float = BLOCK_SECONDS,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        super().__init__(
            url,
            queue_name=queue_name,
            socket_timeout=block_seconds + 10,
            socket_connect_timeout=5,
        )
        socket_timeout = self.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout and float(socket_timeout) <= block_seconds + 1:
            block_seconds = max(float(socket_timeout) / 2, 0.1)
        self.block_seconds = block_seconds
        self.retry_delays = retry_delays
        self.outage = Outage()
        self.failures = 0  # reads that failed since Redis last answered

    async def listen(self) -> AsyncGenerator[bytes, None]:
        while True:
            try:
                async with Redis(connection_pool=self.connection_pool) as redis_conn:
                    popped = await redis_conn.brpop([self.queue_name], timeout=self.block_seconds)
            except (RedisError, OSError) as exc:
                self.outage.down(exc)
                pause = self.retry_delays[min(self.failures, len(self.retry_delays) - 1)]
                self.failures += 1
                await asyncio.sleep(pause)
                continue
            self.failures = 0
            self.outage.up()
            if popped is not None:  # None: the queue stayed empty for block_seconds
                yield popped[1]


class _NormalStop(logging.Filter):
    """taskiq warns "The listenig task was cancelled." whenever its receiver is cancelled,
    which is how GradingEngine.stop ends it: a normal stop, not worth a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("The listenig task was cancelled")


logging.getLogger("taskiq.receiver").addFilter(_NormalStop())


def make_broker(settings: Settings, *, external: bool, queue_name: str = QUEUE_NAME) -> AsyncBroker:
    if external:
        if not settings.redis_url:
            raise RuntimeError("the external grading queue needs REDIS_URL")
        return GradingQueueBroker(settings.redis_url, queue_name=queue_name)
    return InMemoryBroker(max_async_tasks=settings.grading_concurrency, max_stored_results=10)


@dataclass
class Stats:
    graded: int = 0
    reused: int = 0
    retried: int = 0
    failed: int = 0
    lost_leases: int = 0
    swept: int = 0
    started: float = 0.0


class GradingEngine:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        external: bool | None = None,
        graders: Graders | None = None,
        broker: AsyncBroker | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.external = settings.worker_mode == "external" if external is None else external
        self.broker = broker or make_broker(settings, external=self.external)
        self._outage: Outage = getattr(self.broker, "outage", None) or Outage()

        async def grade_submission(submission_id: int) -> None:
            await self._grade(submission_id)

        self.task = self.broker.register_task(grade_submission, task_name=TASK_NAME)
        self.graders = graders or Graders(settings, budget_left=self._budget_left)
        self.stats = Stats(started=time.monotonic())
        # SQLite takes one writer at a time: more threads only queue on its lock (and its
        # busy handler sleeps), so one thread writes; PostgreSQL works in parallel.
        sqlite = (
            settings.is_sqlite
            if sessions.kw.get("bind") is None
            else (sessions.kw["bind"].dialect.name == "sqlite")
        )
        self._db_limiter = anyio.CapacityLimiter(1 if sqlite else DB_THREADS)
        self._slots = asyncio.Semaphore(settings.grading_concurrency)
        self._tasks: list[asyncio.Task[Any]] = []
        self._spent = 0.0  # today's LLM spending, USD
        self._tasks_by_version: service.TaskCache = {}
        self._recent = service.RecentFingerprints()
        parallel = 1 if sqlite else 4  # batches stored at once
        self._claims: Batcher[int, int, service.Claim] = Batcher(
            self._claim_batch, key=lambda sid: sid, parallel=parallel
        )
        self._stores: Batcher[tuple[service.Claim, Any], int, bool] = Batcher(
            self._store_batch, key=lambda item: item[0].submission_id, parallel=parallel
        )
        self._wake: asyncio.Event | None = None
        self._running = False

    # -- life cycle --------------------------------------------------------------------
    async def start(self, *, consume: bool = True, relay: bool = True) -> None:
        """Producer only (`consume=relay=False`) in a web process of an external setup."""
        await self.broker.startup()
        self._running = True
        self._wake = asyncio.Event()
        if consume and self.external:
            self._tasks.append(
                asyncio.create_task(
                    run_receiver_task(
                        self.broker,
                        max_async_tasks=self.settings.grading_concurrency,
                        max_prefetch=0,
                        propagate_exceptions=False,
                    )
                )
            )
        if self.settings.grader_daily_budget_usd is not None:
            self._spent = await self._db(service.spent_today, settings=self.settings, now=utcnow())
        if relay:
            self._tasks.append(asyncio.create_task(self._relay_loop()))
            self._tasks.append(asyncio.create_task(self._sweep_loop()))

    async def stop(self, *, wait: float = 10.0) -> None:
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if isinstance(self.broker, InMemoryBroker):
            with anyio.move_on_after(wait):
                await self.broker.wait_all()
        await self._claims.close()
        await self._stores.close()
        await self.broker.shutdown()

    async def kick(self, submission_id: int) -> bool:
        """Hand a committed, queued submission to the broker (the relay repeats lost kicks).
        False when Redis is unreachable (logged once per outage, not once per job)."""
        try:
            await self.task.kiq(submission_id)
        except Exception as exc:  # Redis down: the relay will kick it later
            self._outage.down(exc)
            return False
        self._outage.up()
        return True

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until nothing is queued or being graded (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            depth = await self._db(service.queue_depth)
            if not depth.get("queued") and not depth.get("grading"):
                if isinstance(self.broker, InMemoryBroker):
                    await self.broker.wait_all()
                return
            self.wake()
            await asyncio.sleep(0.05)
        raise TimeoutError(f"grading queue not drained: {depth}")

    # -- the job ------------------------------------------------------------------------
    async def _grade(self, submission_id: int) -> None:
        async with self._slots:
            settings = self.settings
            claim = await self._claims.submit(submission_id)
            if claim is None:
                return
            try:
                verdict = None if claim.reuse else await self.graders.grade(claim.task)
                verdict = service.verdict_for(claim, verdict, settings)
                stored = bool(await self._stores.submit((claim, verdict)))
            except Exception as exc:
                log.exception("grading submission %s failed", submission_id)
                outcome = await self._db(
                    service.retry_later,
                    claim_=claim,
                    error=f"{type(exc).__name__}: {exc}",
                    settings=settings,
                    now=utcnow(),
                )
                self.stats.retried += outcome == "queued"
                self.stats.failed += outcome == "failed"
                return
            self._spent += verdict.outcome.cost_usd
            if stored:
                self._recent.add(claim)
            if not stored:
                self.stats.lost_leases += 1
            elif claim.reuse:
                self.stats.reused += 1
            else:
                self.stats.graded += 1

    async def _claim_batch(self, ids: list[int]) -> dict[int, service.Claim]:
        return await self._db(
            service.claim_many,
            submission_ids=ids,
            settings=self.settings,
            now=utcnow(),
            tasks=self._tasks_by_version,
            recent=self._recent,
        )

    async def _store_batch(self, items: list[tuple[service.Claim, Any]]) -> dict[int, bool]:
        return await self._db(service.store_many, items=items, settings=self.settings, now=utcnow())

    # -- background loops ---------------------------------------------------------------
    async def _relay_loop(self) -> None:
        while self._running:
            try:
                ids = await self._db(service.due, now=utcnow(), limit=500)
                for submission_id in ids:
                    if not await self.kick(submission_id):
                        break  # Redis is away: the rest wait for the next round
            except Exception:
                log.exception("grading relay failed; retrying")
            assert self._wake is not None
            with anyio.move_on_after(self.settings.grading_relay_seconds):
                await self._wake.wait()
            self._wake.clear()

    async def _sweep_loop(self) -> None:
        while self._running:
            await asyncio.sleep(self.settings.grading_sweep_seconds)
            try:
                self.stats.swept += await self._db(
                    service.sweep, settings=self.settings, now=utcnow()
                )
                if self.settings.grader_daily_budget_usd is not None:
                    self._spent = await self._db(
                        service.spent_today, settings=self.settings, now=utcnow()
                    )
                llm = self.graders.llm
                if llm is not None and llm.breaker.state == "closed" and self._budget_left():
                    # the LLM is back: re-grade a batch; not known to be: one as a probe
                    batch = 20 if llm.healthy else 1
                    if await self._db(service.requeue_provisional, now=utcnow(), limit=batch):
                        self.wake()
            except Exception:
                log.exception("grading sweep failed; retrying")
            try:  # weekly leagues close on the first sweep after Sunday ends
                now = utcnow()
                await self._db(
                    close_ended_weeks,
                    today=local_day(now, self.settings.tz),
                    settings=self.settings,
                    now=now,
                )
            except Exception:
                log.exception("closing the weekly leagues failed; retrying")
            try:  # the dashboard's rollups: today's every REPORT_REFRESH_SECONDS
                await self._db(rollups.refresh_if_due, settings=self.settings, now=utcnow())
            except Exception:
                log.exception("refreshing the report rollups failed; retrying")

    # -- helpers ------------------------------------------------------------------------
    def _budget_left(self) -> bool:
        """Whether today's LLM spending is under GRADER_DAILY_BUDGET_USD (the figure is
        refreshed from the grade records by the sweeper, and grows with each grade here)."""
        budget = self.settings.grader_daily_budget_usd
        return budget is None or self._spent < budget

    async def _db(self, fn: Callable[..., T], **kwargs: Any) -> T:
        """Run a service function in its own transaction, in the database thread pool."""

        def work() -> T:
            with self.sessions() as session:
                result = fn(session, **kwargs)
                session.commit()
                return result

        return await anyio.to_thread.run_sync(work, limiter=self._db_limiter)
