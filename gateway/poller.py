"""One poller per device: scans on a steady rhythm, reports lost devices as lost.

A scan runs every read request of the device in order. An exception response or a malformed
answer spoils only its own block (`bad`); a timeout, a lost connection or a serial gateway's
"path unavailable" (10) or "target device failed to respond" (11) fails the whole scan: every
point is published `comm_lost` with no value, the device goes offline, and the poller
reconnects with jittered exponential backoff, publishing a `comm_lost` scan at each attempt so
consumers keep seeing that the device is lost.

Two exception codes get their own handling. "Illegal data address" (2) for a request merged
across a gap splits it into its parts; for a block no merge can explain, the block is reported
once, its points are published `bad` and it is asked again after `RetryPolicy.reprobe`, while
the rest of the device keeps flowing. "Server device busy" (6) ends the scan and backs off
this device alone; its unread blocks are published `bad` meanwhile. A device with fire-alarm
points is asked again promptly however it failed (`gateway.failsafe`).

A device with a fast lane (`gateway.fast_lane`) also reads a few alarm points between scans
and publishes them as partial messages; a change there starts a full scan at once, so the
detector behind a panel's fire bit is known within milliseconds rather than at the next poll.
Its scans are stamped when they complete rather than when they start, so that its messages
leave in `seq` and `ts` order.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass
from typing import Literal, Protocol

import orjson

from fireroom.clock import Clock, SystemClock
from fireroom.config import DeviceConfig
from fireroom.domain import Quality, Reading
from fireroom.errors import DeviceError, DeviceException, DeviceGarbage, DeviceTimeout
from gateway.backoff import Backoff
from gateway.drivers import Driver
from gateway.failsafe import LOST_CODES, REPROBE_SECONDS, RetryPolicy
from gateway.fast_lane import FastLane
from gateway.planner import ReadRequest
from gateway.stats import DeviceStats

__all__ = ["REPROBE_SECONDS", "DevicePoller", "DeviceState", "DeviceStatus", "Scan", "ScanSink"]

log = logging.getLogger(__name__)

ILLEGAL_ADDRESS = 2
BUSY = 6
_TICK = 1e-6  # the smallest step that keeps a device's timestamps strictly increasing


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    state: Literal["online", "offline"]
    since: float
    reason: str = ""

    def to_json(self) -> bytes:
        return orjson.dumps({"state": self.state, "since": self.since, "reason": self.reason})


@dataclass(slots=True)
class Scan:
    """The outcome of one scan of one device."""

    device: str
    ts: float  # wall clock at scan start
    seq: int
    readings: list[Reading]
    ok: bool  # False when the device did not answer at all (all readings comm_lost)
    # Report by exception (gateway/report.py): True for every reading, False for the changes;
    # None when the device reports every reading of every scan.
    full: bool | None = None
    fast: bool = False  # a fast lane's partial message (`full` False), to be sent as it is


class ScanSink(Protocol):
    """Where scans and state changes go; must not block (the publisher queues them)."""

    def scan(self, scan: Scan) -> None: ...

    def status(self, device: str, status: DeviceStatus) -> None: ...


class DeviceState:
    """A device's online/offline state and its timestamps, for pollers and MQTT devices alike.

    Each change goes to the sink once and to the log with the device's figures. Scans are
    stamped with the gateway's clock; a clock stepped back (NTP) must not make a device's
    messages run backwards, so its timestamps only ever increase.
    """

    def __init__(self, device_id: str, sink: ScanSink, clock: Clock, stats: DeviceStats) -> None:
        self.device_id = device_id
        self.sink = sink
        self.clock = clock
        self.stats = stats
        self.status: DeviceStatus | None = None
        self._last_ts = 0.0
        self._lost_at: float | None = None  # monotonic time the device went offline

    def stamp(self) -> float:
        """The timestamp of a new scan."""
        self._last_ts = max(self.clock.now(), self._last_ts + _TICK)
        return self._last_ts

    def offline(self, ts: float, reason: str) -> None:
        if self.status is not None and self.status.state == "offline":
            return
        self._lost_at = self.clock.monotonic()
        log.warning("%s lost: %s; %s", self.device_id, reason, self.stats.summary())
        self.status = DeviceStatus("offline", ts, reason)
        self.sink.status(self.device_id, self.status)

    def online(self, ts: float) -> None:
        if self.status is not None and self.status.state == "online":
            return
        if self._lost_at is not None:
            log.warning(
                "%s recovered after %.1f s; %s", self.device_id,
                self.clock.monotonic() - self._lost_at, self.stats.summary(),
            )
        else:
            log.info("%s online", self.device_id)
        self._lost_at = None
        self.status = DeviceStatus("online", ts)
        self.sink.status(self.device_id, self.status)


class DevicePoller:
    """Polls one device until cancelled; a coordinator in the Home Assistant sense.

    Args:
        device: the device's config (id, poll interval, timeout).
        requests: the planned reads (`gateway.planner.plan`).
        driver: the connection to the device; the poller closes it when it stops.
        sink: receives every scan and every online/offline change.
        clock: wall time for timestamps, monotonic time for the rhythm.
        rng: source of the reconnect jitter.
        policy: how soon the device is asked again (`gateway.failsafe.retry_policy`).
        fast_lane: reads of alarm points between scans, sharing `driver`.
    """

    def __init__(
        self,
        device: DeviceConfig,
        requests: list[ReadRequest],
        driver: Driver,
        sink: ScanSink,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        policy: RetryPolicy | None = None,
        fast_lane: FastLane | None = None,
    ) -> None:
        self.device = device
        self.requests = requests
        self.driver = driver
        self.sink = sink
        self.clock: Clock = clock or SystemClock()
        self.policy = policy or RetryPolicy(poll_interval=device.poll_interval)
        self.fast_lane = fast_lane
        self.backoff = Backoff(limit=self.policy.lost_cap, rng=rng)
        self.stats = DeviceStats()
        self.state = DeviceState(device.id, sink, self.clock, self.stats)
        self._seq = 0
        self._busy = False  # the last scan ended on a "busy" answer
        self._busy_backoff = Backoff(
            initial=device.poll_interval, cap=self.policy.busy_cap,
            limit=self.policy.busy_cap if self.policy.fire_points else None, rng=rng,
        )
        # Blocks the device refuses (illegal address), with the monotonic time to ask again.
        self._refused: dict[int, float] = {}
        self._points = [name for request in requests for name in request.points]
        self._answering = asyncio.Event()  # set while the device is online
        self._scan_now = asyncio.Event()  # the fast lane saw a change: scan without waiting

    @property
    def status(self) -> DeviceStatus | None:
        return self.state.status

    @property
    def available(self) -> bool:
        return self.status is not None and self.status.state == "online"

    async def run(self, start_delay: float = 0.0) -> None:
        """Scan every `poll_interval` (and run the fast lane, if any) until cancelled."""
        lane = self.fast_lane
        try:
            if lane is None:
                await self._poll(start_delay)
                return
            async with asyncio.TaskGroup() as group:
                group.create_task(self._poll(start_delay), name=f"gateway[{self.device.id}].scan")
                group.create_task(self._fast(lane), name=f"gateway[{self.device.id}].fast")
        finally:
            self.driver.close()

    async def _poll(self, start_delay: float) -> None:
        """Scan on a fixed grid; missed ticks are skipped, never bunched.

        `start_delay` staggers devices over the interval, so a large site's requests and
        decoding are spread out instead of arriving in one burst each second.
        """
        interval = self.device.poll_interval
        task = asyncio.current_task()
        if start_delay > 0:
            await self.clock.sleep(start_delay)
        tick = self.clock.monotonic()
        while True:
            scan = await self.scan()
            # Python 3.11's asyncio.wait_for (inside pymodbus' connect) can swallow a
            # cancellation that arrives as the connection completes; without this check a
            # stopped gateway would keep polling and never finish shutting down.
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            if not scan.ok:
                await self.clock.sleep(self.backoff.next())
                tick = self.clock.monotonic()
                continue
            self.backoff.reset()
            if self._busy:
                await self.clock.sleep(self._busy_backoff.next())
                tick = self.clock.monotonic()
                continue
            self._busy_backoff.reset()
            tick += interval
            now = self.clock.monotonic()
            if tick <= now:
                missed = math.floor((now - tick) / interval) + 1
                self.stats.missed_ticks += missed
                tick += missed * interval
            if await self._wait_or_scan_now(tick - now):
                tick = self.clock.monotonic()  # the rhythm starts again from the early scan

    async def _wait_or_scan_now(self, seconds: float) -> bool:
        """Sleep `seconds` on the clock; True if the fast lane asked for a scan before."""
        if self.fast_lane is None:
            await self.clock.sleep(seconds)
            return False
        if self._scan_now.is_set():
            self._scan_now.clear()
            return True
        waiter = asyncio.ensure_future(self._scan_now.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
        early = self._scan_now.is_set()
        self._scan_now.clear()
        return early

    async def scan(self) -> Scan:
        """Run every request once, hand the scan to the sink and return it."""
        lane = self.fast_lane
        generation = 0 if lane is None else lane.generation
        ts = 0.0 if lane is not None else self._stamp()
        self.stats.scans += 1
        self._busy = False
        readings: list[Reading] = []
        failure: str | None = None
        queue = list(self.requests)
        while queue:
            request = queue.pop(0)
            if self._busy or self._is_refused(request):
                readings.extend(request.unusable(Quality.BAD))
                continue
            started = self.clock.monotonic()
            self.stats.requests += 1
            try:
                words = await self.driver.read(request)
            except DeviceException as exc:
                if exc.code in LOST_CODES:
                    failure = self._lost_answer(exc)
                    break
                parts = self._exception(request, exc)
                queue[0:0] = parts
                if not parts:
                    readings.extend(request.unusable(Quality.BAD))
                continue
            except DeviceGarbage as exc:
                self.stats.errors["garbage"] += 1
                log.debug("%s: %s", self.device.id, exc)
                readings.extend(request.unusable(Quality.BAD))
                continue
            except DeviceError as exc:
                failure = self._failure(exc)
                break
            self.stats.rtts.append(self.clock.monotonic() - started)
            self.stats.last_good = self.clock.now()
            readings.extend(request.decode(words))
        if lane is not None:
            ts = self._stamp()
            if failure is None and lane.generation != generation:
                # The fast lane published its points during this scan: the scan's own reads
                # of them may be older, and must not undo what the fast lane said.
                readings = lane.overlay(readings)
        if failure is not None:
            return self._lose(ts, failure)
        self._online(ts)
        if lane is not None:
            lane.published_with(readings)
        scan = Scan(self.device.id, ts, self._seq, readings, ok=True)
        self.sink.scan(scan)
        return scan

    def _stamp(self) -> float:
        self._seq += 1
        return self.state.stamp()

    def _failure(self, exc: DeviceError) -> str:
        """Count a timeout or a lost connection; returns the reason the device is lost."""
        if isinstance(exc, DeviceTimeout):
            self.stats.errors["timeout"] += 1
            return f"timeout after {self.device.timeout:g} s"
        self.stats.errors["connection"] += 1
        # Driver messages read "<device and address>: <what happened>"; the status already
        # names the device, so keep only what happened.
        return str(exc).partition(": ")[2] or str(exc)

    def _lost_answer(self, exc: DeviceException) -> str:
        """Count a serial gateway's answer that the device behind it is lost."""
        self.stats.errors["exception"] += 1
        return f"{LOST_CODES[exc.code]} (exception {exc.code})"

    def _lose(self, ts: float, reason: str) -> Scan:
        """Publish the device lost: every point `comm_lost`, never its last values."""
        self.stats.failed_scans += 1
        self.driver.close()
        self._answering.clear()
        readings = [Reading(name, None, Quality.COMM_LOST) for name in self._points]
        self.state.offline(ts, reason)
        if self.fast_lane is not None:
            self.fast_lane.published_with(readings)
        scan = Scan(self.device.id, ts, self._seq, readings, ok=False)
        self.sink.scan(scan)
        return scan

    def _online(self, ts: float) -> None:
        self.state.online(ts)
        self._answering.set()

    async def _fast(self, lane: FastLane) -> None:
        """Read the fast lane every `interval` while the device answers."""
        task = asyncio.current_task()
        while True:
            # A lost device is reconnected by the scans' backoff, not hammered from here.
            await self._answering.wait()
            started = self.clock.monotonic()
            try:
                changed = await lane.read(self.driver, self.stats)
            except DeviceException as exc:
                self._lose(self._stamp(), self._lost_answer(exc))
                continue
            except DeviceError as exc:
                self._lose(self._stamp(), self._failure(exc))
                continue
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            if changed and self.available:
                self.sink.scan(Scan(self.device.id, self._stamp(), self._seq, changed,
                                    ok=True, full=False, fast=True))
                lane.published_with(changed)
                self._scan_now.set()
            await self.clock.sleep(max(0.0, started + lane.interval - self.clock.monotonic()))

    def _exception(self, request: ReadRequest, exc: DeviceException) -> list[ReadRequest]:
        """Handle an exception answer; returns the requests to read instead, if any."""
        self.stats.errors["exception"] += 1
        if exc.code == BUSY:
            self.stats.errors["busy"] += 1
            if not self._busy:
                log.info("%s busy (exception 6): backing off", self.device.id)
            self._busy = True
            return []
        if exc.code != ILLEGAL_ADDRESS:
            log.debug("%s: %s", self.device.id, exc)
            return []
        if request.merged:
            # The gap held addresses the device refuses: read the parts on their own from now.
            parts = request.split()
            index = self.requests.index(request)
            self.requests[index : index + 1] = parts
            log.info("%s: %s refused (illegal address), split into %s", self.device.id,
                     request, ", ".join(str(part) for part in parts))
            return parts
        wait = self.policy.reprobe(request.points)
        if id(request) not in self._refused:
            log.warning("%s: %s refused (illegal address): its points %s are reported bad;"
                        " asked again every %g s", self.device.id, request,
                        ", ".join(request.points), wait)
        self._refused[id(request)] = self.clock.monotonic() + wait
        self.stats.refused_blocks = len(self._refused)
        return []

    def _is_refused(self, request: ReadRequest) -> bool:
        until = self._refused.get(id(request))
        if until is None:
            return False
        if self.clock.monotonic() >= until:
            del self._refused[id(request)]  # ask again; refused again, it goes back
            self.stats.refused_blocks = len(self._refused)
            return False
        return True
