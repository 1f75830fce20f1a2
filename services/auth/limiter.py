"""Login rate limiting: failures per username and per client address in a sliding window.

Kept in memory: one API process serves a control room, and a restart forgetting the count
costs an attacker a restart they cannot trigger.
"""

from __future__ import annotations

from collections import deque

from fireroom.clock import Clock

__all__ = ["LoginLimiter", "TooManyAttempts"]


class TooManyAttempts(Exception):
    """Too many failed logins; `retry_after` seconds until the next attempt is allowed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins, retry in {retry_after} s")
        self.retry_after = retry_after


class LoginLimiter:
    """At most `max_failures` failed logins per key in `window` seconds."""

    def __init__(self, clock: Clock, *, max_failures: int = 5, window: float = 300.0) -> None:
        self._clock = clock
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        cutoff = self._clock.monotonic() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def check(self, *keys: str) -> None:
        """Raise TooManyAttempts if any key is over its limit."""
        wait = 0.0
        for key in keys:
            times = self._recent(key)
            if len(times) >= self.max_failures:
                wait = max(wait, times[0] + self.window - self._clock.monotonic())
        if wait > 0:
            raise TooManyAttempts(max(1, int(wait + 0.999)))

    def failed(self, *keys: str) -> None:
        now = self._clock.monotonic()
        for key in keys:
            self._recent(key).append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
