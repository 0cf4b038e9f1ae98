"""Group many small database calls into few transactions. Each grading claims its job and
stores its grade; at a hundred gradings a second, one transaction each would spend the
process's time on transaction overhead. A Batcher collects what arrives within 25
milliseconds (up to `max_size` items) and runs them as one call, up to `parallel` calls at
once; every caller still gets its own answer (or the batch's exception). An item whose key
is already in the batch gets None: a job is given to one caller only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")


class Batcher(Generic[Item, Key, Result]):
    def __init__(
        self,
        run: Callable[[list[Item]], Awaitable[dict[Key, Result]]],
        key: Callable[[Item], Key],
        *,
        max_size: int = 64,
        max_wait: float = 0.025,
        parallel: int = 1,
    ) -> None:
        self._run = run
        self._key = key
        self.max_size = max_size
        self.max_wait = max_wait
        self._slots = asyncio.Semaphore(parallel)
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result | None]]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result | None:
        """The item's result (None when the batch's answer has nothing for it)."""
        if self._consumer is None or self._consumer.done():
            self._consumer = asyncio.create_task(self._consume())
        future: asyncio.Future[Result | None] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def close(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        for task in list(self._flushes):
            with contextlib.suppress(Exception):
                await task

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            await self._slots.acquire()
            task = asyncio.create_task(self._flush(batch))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[tuple[Item, asyncio.Future[Result | None]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            seen: set[Key] = set()
            for item, future in batch:
                key = self._key(item)
                # the same key twice in a batch (a job kicked twice): only the first gets it
                answer = results.get(key) if key not in seen else None
                seen.add(key)
                if not future.done():
                    future.set_result(answer)
        finally:
            self._slots.release()
