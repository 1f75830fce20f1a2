"""A clock that runs faster than real time, to play minute-long scenarios in seconds."""

from __future__ import annotations

import asyncio
import time

__all__ = ["FastClock"]


class FastClock:
    """Time passes `speed` times faster than on the wall; satisfies `fireroom.clock.Clock`.

    Only code that takes its time from this clock is sped up: Modbus timeouts stay real.
    """

    def __init__(self, speed: float = 10.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.speed = speed
        self._origin_wall = time.time() if start is None else start
        self._origin = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._origin) * self.speed

    def now(self) -> float:
        return self._origin_wall + self.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)
