"""Fixed-window rate limits: in memory for the single-process default, Redis at scale."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

from app.core.errors import TooManyRequests


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    retry_after: int  # seconds until the window resets (0 when allowed)


class RateLimiter(Protocol):
    """`hit` counts first and answers after, atomically: of N requests racing on one key,
    exactly `limit` are allowed. A caller that must not count an attempt after all (it
    succeeded, or another limit refused it) takes it back with `undo`."""

    def peek(self, key: str, limit: int, window: int) -> Verdict: ...
    def hit(self, key: str, limit: int, window: int) -> Verdict: ...
    def undo(self, key: str) -> None: ...
    def reset(self, key: str) -> None: ...


class MemoryRateLimiter:
    """For one process (the embedded SQLite default). Not shared between processes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def _current(self, key: str, window: int) -> tuple[float, int]:
        now = self._clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= window:
            start, count = now, 0
        return start, count

    def _verdict(self, start: float, count: int, limit: int, window: int) -> Verdict:
        if count <= limit:
            return Verdict(True, count, 0)
        return Verdict(False, count, max(1, math.ceil(window - (self._clock() - start))))

    def peek(self, key: str, limit: int, window: int) -> Verdict:
        with self._lock:
            start, count = self._current(key, window)
            return self._verdict(start, count + 1, limit, window)

    def hit(self, key: str, limit: int, window: int) -> Verdict:
        with self._lock:
            start, count = self._current(key, window)
            count += 1
            self._windows[key] = (start, count)
            if len(self._windows) > 100_000:
                self._evict(window)
            return self._verdict(start, count, limit, window)

    def undo(self, key: str) -> None:
        with self._lock:
            found = self._windows.get(key)
            if found is None:
                return
            start, count = found
            if count <= 1:
                del self._windows[key]
            else:
                self._windows[key] = (start, count - 1)

    def reset(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)

    def _evict(self, window: int) -> None:
        now = self._clock()
        for k in [k for k, (s, _) in self._windows.items() if now - s >= window]:
            del self._windows[k]


# Take one hit back: never below zero, and never a key without its expiry (a DECR on a
# missing key would create one at -1 that lives for ever).
_UNDO = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 1 then
  return redis.call('DECR', KEYS[1])
end
if count == 1 then
  redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisRateLimiter:
    """Shared by every app process: INCR plus EXPIRE on the first hit of a window."""

    def __init__(self, client: redis.Redis, prefix: str = "bdhai:rl:") -> None:
        self._r = client
        self._prefix = prefix
        self._undo = client.register_script(_UNDO)

    def peek(self, key: str, limit: int, window: int) -> Verdict:
        k = self._prefix + key
        count = int(self._r.get(k) or 0) + 1
        if count <= limit:
            return Verdict(True, count, 0)
        ttl = int(self._r.ttl(k))
        return Verdict(False, count, ttl if ttl > 0 else window)

    def hit(self, key: str, limit: int, window: int) -> Verdict:
        k = self._prefix + key
        pipe = self._r.pipeline()
        pipe.incr(k)
        pipe.expire(k, window, nx=True)
        pipe.ttl(k)
        count, _, ttl = pipe.execute()
        if int(count) <= limit:
            return Verdict(True, int(count), 0)
        return Verdict(False, int(count), int(ttl) if int(ttl) > 0 else window)

    def undo(self, key: str) -> None:
        self._undo(keys=[self._prefix + key])

    def reset(self, key: str) -> None:
        self._r.delete(self._prefix + key)


def wait_message(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    if seconds < 60:
        return f"{seconds} giây"
    return f"{minutes} phút"


def enforce(limiter: RateLimiter, key: str, *, limit: int, window: int, message: str) -> None:
    """Count one more request under `key`; past `limit` in the window, a 429 with
    `message` (Vietnamese) and Retry-After."""
    verdict = limiter.hit(key, limit, window)
    if not verdict.allowed:
        raise TooManyRequests(message, headers={"Retry-After": str(verdict.retry_after)})
