"""A circuit breaker for the LLM endpoint: after `failures` failures in a row it opens and
every grading goes straight to the offline grader for `cooldown` seconds; then one trial
call is let through (half-open), and its outcome closes or re-opens the breaker. A provider
outage is thus met with a pause instead of a flood of retries."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self, *, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_running = False
        self.trips = 0  # how many times it opened (reported on the status page)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self.trial_running:
            self.trial_running = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_running = False

    def failure(self) -> None:
        self.failures += 1
        if self.state == "half_open" or (
            self.opened_at is None and self.failures >= self.threshold
        ):
            self.opened_at = self.clock()
            self.trips += 1
        self.trial_running = False
