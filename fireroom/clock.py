"""Clocks: one abstraction for gateway, rules and simulators, so tests need not sleep."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["Clock", "SimulatedClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock time, Unix seconds: what timestamps and records carry."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring intervals; never jumps."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SimulatedClock:
    """Time that moves only when told to, so a year of compliance runs in milliseconds.

    `advance(seconds)` moves time forward and wakes every sleeper whose time has come. With
    `auto_advance`, a `sleep()` also moves time: once every task that is ready has run, the
    clock jumps to the earliest sleeper's wake-up time. Tasks waiting on I/O do not hold time
    back, so auto-advance suits runs whose only waits are this clock's sleeps.

    Args:
        start: the wall-clock time `now()` reports first, Unix seconds (default
            2025-01-01 00:00 at UTC+8, the start of a year in China's time zone).
        auto_advance: let sleeping make time pass (scenario runs); otherwise sleepers wait
            for `advance()`.
    """

    def __init__(self, start: float = 1_735_660_800.0, *, auto_advance: bool = False) -> None:
        self._start = start
        self._elapsed = 0.0
        self.auto_advance = auto_advance
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._jump_scheduled = False

    def now(self) -> float:
        return self._start + self._elapsed

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        """Move time forward (never back) and wake the sleepers that are due."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        self._elapsed += seconds
        self._wake()

    def advance_to(self, when: float) -> None:
        """Move wall-clock time forward to `when` (Unix seconds); earlier times are an error."""
        self.advance(when - self.now())

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # like asyncio.sleep(0): let others run, time stands still
            return
        wake = self._elapsed + seconds
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (wake, next(self._order), future))
        if self.auto_advance and not self._jump_scheduled:
            self._jump_scheduled = True
            loop.call_soon(self._jump)
        # A cancelled sleep cancels its future: `_jump` then skips it.
        await future

    def _jump(self) -> None:
        # Runs after the callbacks that were ready when the sleep began, so tasks woken
        # together register their next sleep before time moves again.
        self._jump_scheduled = False
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        if self._sleepers:
            self._elapsed = max(self._elapsed, self._sleepers[0][0])
            self._wake()

    def _wake(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
        if self.auto_advance and self._sleepers and not self._jump_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._jump_scheduled = True
            loop.call_soon(self._jump)
