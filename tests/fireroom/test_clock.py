"""The simulated clock: time moves when told, or when everyone sleeps."""

from __future__ import annotations

import asyncio

import pytest

from fireroom.clock import Clock, SimulatedClock, SystemClock


def test_time_moves_only_when_told() -> None:
    clock = SimulatedClock(1000.0)
    assert (clock.now(), clock.monotonic()) == (1000.0, 0.0)
    clock.advance(90.5)
    assert (clock.now(), clock.monotonic()) == (1090.5, 90.5)
    clock.advance_to(2000.0)
    assert clock.now() == 2000.0
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance_to(10.0)


def test_both_clocks_are_clocks() -> None:
    clocks: list[Clock] = [SystemClock(), SimulatedClock()]
    assert all(clock.monotonic() >= 0 for clock in clocks)


async def test_sleeping_for_nothing_returns_at_once() -> None:
    clock = SimulatedClock(0.0)
    await clock.sleep(0)
    await clock.sleep(-5)
    assert clock.monotonic() == 0.0


async def test_sleepers_wake_when_time_passes_their_time() -> None:
    clock = SimulatedClock(0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    async with asyncio.TaskGroup() as group:
        group.create_task(sleeper("late", 30))
        group.create_task(sleeper("early", 10))
        await asyncio.sleep(0)
        clock.advance(9)
        await asyncio.sleep(0)
        assert woke == []
        clock.advance(1)
        await asyncio.sleep(0)
        assert woke == [("early", 10.0)]
        clock.advance(100)
    assert woke == [("early", 10.0), ("late", 110.0)]


async def test_auto_advance_keeps_one_timeline_for_many_sleepers() -> None:
    clock = SimulatedClock(0.0, auto_advance=True)
    seen: list[tuple[str, float]] = []

    async def every(name: str, interval: float, times: int) -> None:
        for _ in range(times):
            await clock.sleep(interval)
            seen.append((name, clock.monotonic()))

    async with asyncio.timeout(5):  # real seconds: a guard, the run takes milliseconds
        async with asyncio.TaskGroup() as group:
            group.create_task(every("poll", 1.0, 600))
            group.create_task(every("tick", 60.0, 10))
    # Time advanced to each wake-up in turn, not by the sum of the sleeps.
    assert clock.monotonic() == 600.0
    ticks = [at for name, at in seen if name == "tick"]
    assert ticks == [60.0 * n for n in range(1, 11)]
    polls = [at for name, at in seen if name == "poll"]
    assert polls == [float(n) for n in range(1, 601)]


async def test_a_cancelled_sleeper_does_not_hold_time() -> None:
    clock = SimulatedClock(0.0, auto_advance=True)
    forgotten = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0)
    forgotten.cancel()
    with pytest.raises(asyncio.CancelledError):
        await forgotten
    await clock.sleep(20)
    assert clock.monotonic() == 20.0
