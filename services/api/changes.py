"""A wake-up for the console's event streams: something changed in the incident store."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["Changes"]


class Changes:
    """Broadcast to every waiting stream; callable from the event loop or a worker thread
    (the API's sync routes run on threads)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def notify(self) -> None:
        loop = self._loop
        if loop is None:
            return  # nobody has waited yet: there is no one to wake
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        # Waiters hold the event they started on; later waiters get a fresh one.
        self._event.set()
        self._event = asyncio.Event()

    def waiter(self) -> asyncio.Event:
        """Taken before reading the store, so a change made during the read still wakes."""
        self._loop = asyncio.get_running_loop()
        return self._event

    @staticmethod
    async def wait(waiter: asyncio.Event, seconds: float) -> bool:
        """True when woken by a change, False after `seconds` without one."""
        try:
            async with asyncio.timeout(seconds):
                await waiter.wait()
        except TimeoutError:
            return False
        return True
