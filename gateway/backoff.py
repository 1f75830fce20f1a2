"""Jittered exponential backoff for reconnecting to devices and brokers."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays that double from `initial` up to `cap`, each spread by ±`jitter`.

    The jitter keeps many devices that failed together (a switch reboot) from reconnecting in
    lockstep. With `limit`, the cap is lowered so that no delay, jitter included, exceeds it:
    a device that may hold a fire alarm must be asked again within a known time.
    """

    def __init__(
        self,
        *,
        initial: float = 0.5,
        cap: float = 30.0,
        jitter: float = 0.2,
        limit: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if limit is not None:
            cap = min(cap, limit / (1 + jitter))
        self.initial = min(initial, cap)
        self.cap = cap
        self.jitter = jitter
        self._rng = rng or random.Random()  # jitter, not cryptography
        self._attempt = 0

    def next(self) -> float:
        base = min(self.cap, self.initial * 2.0**self._attempt)
        if base < self.cap:
            self._attempt += 1
        return base * self._rng.uniform(1 - self.jitter, 1 + self.jitter)

    def reset(self) -> None:
        self._attempt = 0
