"""Poller scheduling, backoff and state changes with a simulated clock and a scripted driver."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence

import pytest

from fireroom.config import DeviceConfig
from fireroom.domain import Quality
from fireroom.errors import DeviceError, DeviceTimeout
from fireroom.points import PointSpec
from gateway.backoff import Backoff
from gateway.planner import ReadRequest, plan
from gateway.poller import DevicePoller, DeviceStatus, Scan
from gateway.stats import DeviceStats


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return 1_700_000_000.0 + self.t

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


class ScriptedDriver:
    """Answers each read by calling `script(scan_number)`: a value list, or an exception."""

    def __init__(self, clock: FakeClock, script: Callable[[int], Sequence[int] | Exception],
                 *, duration: Callable[[int], float] = lambda n: 0.01) -> None:
        self.clock = clock
        self.script = script
        self.duration = duration
        self.reads = 0
        self.closed = 0

    @property
    def connected(self) -> bool:
        return True

    async def connect(self) -> None:
        return None

    async def read(self, request: ReadRequest) -> Sequence[int]:
        self.reads += 1
        self.clock.t += self.duration(self.reads)
        answer = self.script(self.reads)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        self.closed += 1


class Sink:
    def __init__(self, stop_after: int) -> None:
        self.scans: list[Scan] = []
        self.statuses: list[DeviceStatus] = []
        self.stop_after = stop_after
        self.done = asyncio.Event()

    def scan(self, scan: Scan) -> None:
        self.scans.append(scan)
        if len(self.scans) >= self.stop_after:
            self.done.set()

    def status(self, device: str, status: DeviceStatus) -> None:
        self.statuses.append(status)


DEVICE = DeviceConfig.model_validate({
    "id": "pump-1", "profile": "x", "transport": {"type": "tcp", "host": "127.0.0.1"},
    "poll_interval": 1.0, "timeout": 0.5,
})
REQUESTS = plan([PointSpec(name="pressure", address=0, scale=0.01)])


async def run_until(poller: DevicePoller, sink: Sink) -> None:
    task = asyncio.create_task(poller.run())
    async with asyncio.timeout(5):
        await sink.done.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_steady_rate_without_drift() -> None:
    clock = FakeClock()
    driver = ScriptedDriver(clock, lambda n: [n], duration=lambda n: 0.3)
    sink = Sink(stop_after=5)
    poller = DevicePoller(DEVICE, REQUESTS, driver, sink, clock=clock)
    await run_until(poller, sink)
    starts = [scan.ts - 1_700_000_000.0 for scan in sink.scans]
    assert starts == pytest.approx([1000.0, 1001.0, 1002.0, 1003.0, 1004.0])
    assert [scan.seq for scan in sink.scans] == [1, 2, 3, 4, 5]
    assert clock.sleeps[:4] == pytest.approx([0.7] * 4)
    assert driver.closed == 1  # the poller closes its driver when it stops


async def test_slow_scan_skips_missed_ticks_and_keeps_phase() -> None:
    clock = FakeClock()
    driver = ScriptedDriver(clock, lambda n: [n], duration=lambda n: 2.5 if n == 2 else 0.1)
    sink = Sink(stop_after=4)
    poller = DevicePoller(DEVICE, REQUESTS, driver, sink, clock=clock)
    await run_until(poller, sink)
    starts = [scan.ts - 1_700_000_000.0 for scan in sink.scans]
    # Scan 2 (at 1001) ends at 1003.5: ticks 1002 and 1003 are skipped, not bunched.
    assert starts == pytest.approx([1000.0, 1001.0, 1004.0, 1005.0])
    assert poller.stats.missed_ticks == 2


async def test_lost_device_backs_off_publishes_comm_lost_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()

    def script(n: int) -> Sequence[int] | Exception:
        if 2 <= n <= 6:
            return DeviceTimeout("pump-1: timeout")
        return [620]

    driver = ScriptedDriver(clock, script, duration=lambda n: 0.0)
    sink = Sink(stop_after=8)
    poller = DevicePoller(DEVICE, REQUESTS, driver, sink, clock=clock, rng=random.Random(3))
    with caplog.at_level(logging.INFO, logger="gateway.poller"):
        await run_until(poller, sink)
    readings: list[tuple[object, Quality]] = [
        (scan.readings[0].value, scan.readings[0].quality) for scan in sink.scans]
    assert readings[0] == (pytest.approx(6.2), Quality.GOOD)
    assert readings[1:6] == [(None, Quality.COMM_LOST)] * 5
    assert readings[6] == (pytest.approx(6.2), Quality.GOOD)
    backoffs = clock.sleeps[1:6]
    for delay, base in zip(backoffs, [0.5, 1.0, 2.0, 4.0, 8.0], strict=True):
        assert base * 0.8 <= delay <= base * 1.2
    assert clock.sleeps[6] == pytest.approx(1.0)  # back on the normal rhythm
    assert [(s.state, s.reason) for s in sink.statuses] == [
        ("online", ""), ("offline", "timeout after 0.5 s"), ("online", "")]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "pump-1 online"
    # State changes carry the device's figures, so the log alone tells what happened.
    assert messages[1].startswith("pump-1 lost: timeout after 0.5 s; 2 requests, errors: ")
    assert "timeout 1" in messages[1]
    assert "last good read " in messages[1]
    assert messages[2].startswith("pump-1 recovered after ")
    assert "timeout 5" in messages[2]
    assert "round trip p50 " in messages[2]
    assert len(messages) == 3  # state changes only, not one line per failed scan
    assert poller.stats.errors["timeout"] == 5
    assert poller.stats.failed_scans == 5


async def test_connection_error_counts_as_connection() -> None:
    clock = FakeClock()
    driver = ScriptedDriver(clock, lambda n: DeviceError("pump-1 (127.0.0.1:502): refused"))
    sink = Sink(stop_after=1)
    poller = DevicePoller(DEVICE, REQUESTS, driver, sink, clock=clock)
    scan = await poller.scan()
    assert not scan.ok
    assert poller.stats.errors == {
        "timeout": 0, "exception": 0, "busy": 0, "garbage": 0, "connection": 1}
    assert sink.statuses[0].reason == "refused"


def test_backoff_doubles_to_the_cap_and_resets() -> None:
    backoff = Backoff(jitter=0.0)
    assert [backoff.next() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next() == 0.5


def test_backoff_jitter_stays_within_twenty_percent() -> None:
    backoff = Backoff(rng=random.Random(7))
    delays = [backoff.next() for _ in range(200)]
    assert all(0.4 <= d <= 36.0 for d in delays)
    assert min(delays[10:]) >= 24.0
    assert max(delays[10:]) <= 36.0
    assert len({round(d, 6) for d in delays[10:]}) > 100


def test_rtt_percentiles_from_a_ring_buffer() -> None:
    stats = DeviceStats(rtt_window=100)
    assert stats.rtt_percentile(0.5) is None
    for i in range(1, 201):
        stats.rtts.append(i / 1000)
    assert len(stats.rtts) == 100
    assert stats.rtt_percentile(0.5) == pytest.approx(0.150)
    assert stats.rtt_percentile(0.99) == pytest.approx(0.199)
    report = stats.report(state="online", requests_per_scan=1, published=0, dropped=0)
    assert report["rtt_p99"] == pytest.approx(0.199)
