"""Clocks: one abstraction for gateway, rules and simulators, so tests need not sleep."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


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
