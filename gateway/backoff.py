"""Jittered exponential backoff for reconnecting to devices and brokers."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays that double from `initial` up to `cap`, each spread by ±`jitter`.

    The jitter keeps many devices that failed together (a switch reboot) from reconnecting in
    lockstep.
    """

    def __init__(
        self,
        *,
        initial: float = 0.5,
        cap: float = 30.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.initial = initial
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
