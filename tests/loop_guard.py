"""The loop guard: database work on a thread that is running an asyncio event loop fails
the test during which it happened (installed for the whole suite by tests/conftest.py)."""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

_APP_DIR = str(Path(__file__).resolve().parent.parent / "app")
_TESTS_DIR = str(Path(__file__).resolve().parent)
_LOOP_CALLBACK = asyncio.events.Handle._run.__code__  # every callback and task step a loop runs


class LoopBlocked(AssertionError):
    """Database work ran on a thread that is running an asyncio event loop."""


class LoopGuard:
    """Finds database work done on an event loop's thread, in every test.

    A statement (or a COMMIT/ROLLBACK) that runs while the thread is running an asyncio
    event loop holds up every request that loop serves, and the in-process grader with
    them; on SQLite, whose write lock a request may wait 30 s for, it stalls the whole
    server. Async handlers must read the form with `await` and then do their database
    work in a thread (`run_in_threadpool`), as sync handlers and the grading engine do.

    The listeners sit on the Engine class, so they cover every engine a test creates: the
    suite's, the apps' that TestClient and the browser suites serve, and the grading
    engines'. A test's own coroutine (run by asyncio.run in the test, as the grading
    queue's tests do) may look at the database while the engine under test runs: only
    the asyncio task that runs it is let through; requests (whatever the handler) and the
    engine's own tasks never are."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.violations: list[str] = []

    def install(self) -> None:
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._commit)
        event.listen(Engine, "rollback", self._rollback)

    def remove(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._statement)
        event.remove(Engine, "commit", self._commit)
        event.remove(Engine, "rollback", self._rollback)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self._check(" ".join(statement.split())[:200])

    def _commit(self, _conn: Any) -> None:
        self._check("COMMIT")

    def _rollback(self, _conn: Any) -> None:
        self._check("ROLLBACK")

    def _check(self, what: str) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # a thread without a running loop: a worker thread or a sync test
        frame: Any = sys._getframe(1)
        while frame is not None and frame.f_code is not _LOOP_CALLBACK:
            frame = frame.f_back
        if frame is None:
            return  # not called from the loop: Playwright's sync API (a greenlet beside it)
        task = asyncio.current_task()
        code = getattr(task.get_coro(), "cr_code", None) if task is not None else None
        if code is not None and code.co_filename.startswith(_TESTS_DIR):
            return  # a test's own coroutine (asyncio.run in the test) looking at the database
        frames = [
            f
            for f in traceback.extract_stack(sys._getframe(1))
            if f.filename.startswith((_APP_DIR, _TESTS_DIR))
        ]
        where = "".join(traceback.format_list(frames[-8:]))
        with self._lock:
            self.violations.append(
                f"{what}\n  on the event loop of thread {threading.current_thread().name}, "
                f"from:\n{where}"
            )

    def take(self) -> list[str]:
        with self._lock:
            found, self.violations = self.violations, []
        return found

    def check(self) -> None:
        found = self.take()
        if found:
            raise LoopBlocked(
                f"{len(found)} database call(s) ran on an event loop's thread; do them in a "
                "thread (run_in_threadpool) or make the handler sync. First:\n" + found[0]
            )
