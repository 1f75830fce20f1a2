"""The buffered writer: lines in, batches on disk, batches out to InfluxDB, at least once, in order.

    put(lines) ──memory (≤ flush_interval)──▶ DiskBuffer (SQLite) ──oldest first──▶ Transport

`put` never waits. A flusher task turns the lines held in memory into gzip-compressed batches of
at most `batch_points` every `flush_interval` seconds, or as soon as a batch is full, and
appends them to the disk buffer. A sender task sends the oldest batches first, at most
`max_in_flight` at a time, and removes each only after InfluxDB took it; while InfluxDB is away
the buffer grows (dropping its oldest batches at its byte bound) and drains by itself when it
is back. Resending after a crash writes the same series and timestamps again, which InfluxDB
keeps once: at least once becomes exactly once.

SQLite work and compression run on one worker thread, in order, so the event loop (and with it
the device pollers) never waits for the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from fireroom.clock import Clock, SystemClock
from fireroom.errors import (
    InfluxRefused,
    InfluxRejected,
    InfluxTooLarge,
    InfluxUnavailable,
    SinkError,
    SpoolError,
)
from gateway.backoff import Backoff
from gateway.influx.buffer import Batch, DiskBuffer, Dropped
from gateway.influx.transport import Transport
from gateway.metrics import Metric

__all__ = ["BufferedWriter", "WriterStats", "compress", "decompress"]

log = logging.getLogger(__name__)

State = Literal["starting", "up", "unavailable", "refused"]
T = TypeVar("T")

_PEEK = 16  # batches read from disk at a time
_DROP_LOG_INTERVAL = 30.0  # seconds between "buffer full" lines while dropping goes on
_MAX_RETRY_AFTER = 300.0


def compress(data: bytes, level: int = 1) -> bytes:
    """gzip; level 1 is several times faster than 6 and line protocol still shrinks ~10 x."""
    packer = zlib.compressobj(level, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def _nothing() -> None:
    pass


def decompress(data: bytes) -> bytes:
    return zlib.decompress(data, 47)  # gzip or zlib header


@dataclass(slots=True)
class WriterStats:
    """Counters since start; buffer depth comes from `DiskBuffer.counts()`."""

    points_written: int = 0
    batches_written: int = 0
    write_errors: Counter[str] = field(default_factory=Counter)  # by kind
    dropped_points: Counter[str] = field(default_factory=Counter)  # by reason
    dropped_batches: Counter[str] = field(default_factory=Counter)
    last_written: float | None = None  # wall-clock time of the last accepted batch


class BufferedWriter:
    """Keeps line protocol on disk until InfluxDB has it. `run()` once, until cancelled.

    Args:
        transport: how batches reach InfluxDB; closed when `run` ends.
        buffer: the disk buffer; closed when `run` ends.
        name: names the tasks, the logs and the metrics (`readings`, `incidents`).
        batch_points: most lines in one batch (one request).
        flush_interval: longest time a line waits in memory before it is on disk.
        max_in_flight: requests sent at once, oldest batches first; InfluxDB takes a second
            request on another core while it parses the first.
        max_pending_points: lines held in memory when the disk cannot keep up; the oldest go.
        clock: time for the retry waits and the buffer's age.
        backoff: delays between retries while InfluxDB is away (0.5 s doubling to 10 s, ±30 %).
        compresslevel: gzip level of the stored batches.
    """

    def __init__(
        self,
        transport: Transport,
        buffer: DiskBuffer,
        *,
        name: str = "readings",
        batch_points: int = 5000,
        flush_interval: float = 1.0,
        max_in_flight: int = 2,
        max_pending_points: int | None = None,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        compresslevel: int = 1,
    ) -> None:
        self.transport = transport
        self.buffer = buffer
        self.name = name
        self.batch_points = batch_points
        self.flush_interval = flush_interval
        self.max_in_flight = max_in_flight
        self.max_pending_points = max_pending_points or max(100_000, 20 * batch_points)
        self.compresslevel = compresslevel
        self._clock: Clock = clock or SystemClock()
        self._backoff = backoff or Backoff(initial=0.5, cap=10.0, jitter=0.3)
        self.stats = WriterStats()
        self.state: State = "starting"
        self._pending: list[str] = []
        self._full = asyncio.Event()
        self._stored = asyncio.Event()
        self._empty = asyncio.Event()  # the sender found nothing left to send
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"influx-{name}")
        self._down_since: float | None = None
        self._draining_since: float | None = None
        self._drained_points = 0
        self._last_drop_log: float | None = None
        self._last_overflow_log: float | None = None
        self._drops_unlogged = Dropped(0, 0, 0)
        self._retry_after: float | None = None  # seconds, from the server's Retry-After
        self._started = False
        self._resuming = False  # the buffer held a backlog when run() started

    # --- the producer side -------------------------------------------------------------------

    def put(self, lines: list[str]) -> None:
        """Queue lines for InfluxDB; never blocks."""
        self._pending.extend(lines)
        self._empty.clear()
        excess = len(self._pending) - self.max_pending_points
        if excess > 0:
            del self._pending[:excess]
            self._overflowed(excess)
        if len(self._pending) >= self.batch_points:
            self._full.set()

    def _overflowed(self, lines: int) -> None:
        self._count_dropped("overflow", 0, lines)
        now = self._clock.monotonic()
        last = self._last_overflow_log
        if last is None or now - last >= _DROP_LOG_INTERVAL:
            self._last_overflow_log = now
            log.warning(
                "influx[%s]: %s lines waited in memory for the disk, dropped the oldest;"
                " %s dropped since start",
                self.name, f"{self.max_pending_points:,}",
                f"{self.stats.dropped_points['overflow']:,}",
            )

    @property
    def pending(self) -> int:
        """Lines in memory, not yet on disk."""
        return len(self._pending)

    async def flush(self) -> None:
        """Put what is in memory on disk now (tests, benchmarks, shutdown)."""
        lines, self._pending = self._pending, []
        if lines:
            self._stored_batches(await self._on_disk(self._store, lines))

    async def drained(self) -> None:
        """Return once everything put so far is in InfluxDB (or set aside or dropped).

        Needs `run()` going; while InfluxDB is away it waits, so bound it with a timeout.
        """
        await self.flush()
        # A batch the flusher already handed to the disk thread is stored once this returns.
        await self._on_disk(_nothing)
        await self._empty.wait()

    # --- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        if self._started:
            raise RuntimeError(f"influx[{self.name}] writer runs only once")
        self._started = True
        counts = self.buffer.counts()
        if counts.points:
            self._resuming = True
            log.info(
                "influx[%s]: %s points (%d batches) buffered from before, for %s",
                self.name, f"{counts.points:,}", counts.batches, self.transport.target,
            )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._flush_loop(), name=f"influx[{self.name}].flush")
                group.create_task(self._send_loop(), name=f"influx[{self.name}].send")
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        # What is still in memory goes to disk, so a clean stop loses nothing; the disk thread
        # finishes its queue (an in-flight append included) before the buffer closes.
        lines, self._pending = self._pending, []
        if lines:
            self._disk.submit(self._store, lines)
        self._disk.submit(self.buffer.close)
        self._disk.shutdown(wait=True)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.transport.aclose()

    async def _on_disk(self, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._disk, function, *args)

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval):
                    await self._full.wait()
            self._full.clear()
            lines, self._pending = self._pending, []
            if not lines:
                continue
            try:
                dropped = await self._on_disk(self._store, lines)
            except SpoolError as exc:
                # Keep the lines (bounded by put) and try again: the disk may come back.
                self._pending[:0] = lines
                log.error("influx[%s]: %s", self.name, exc)
                await self._clock.sleep(self.flush_interval)
                continue
            self._stored_batches(dropped)

    def _store(self, lines: list[str]) -> Dropped:
        """On the disk thread: compress in batches and append, dropping the oldest if full."""
        size = self.batch_points
        bodies = []
        for start in range(0, len(lines), size):
            chunk = lines[start:start + size]
            bodies.append((compress("\n".join(chunk).encode(), self.compresslevel), len(chunk)))
        return self.buffer.append(bodies)

    def _stored_batches(self, dropped: Dropped) -> None:
        self._empty.clear()
        self._stored.set()
        if dropped.batches:
            self._buffer_full(dropped)

    def _buffer_full(self, dropped: Dropped) -> None:
        self._count_dropped("buffer_full", dropped.batches, dropped.points)
        total = self._drops_unlogged
        self._drops_unlogged = Dropped(
            total.batches + dropped.batches, total.points + dropped.points,
            total.bytes + dropped.bytes,
        )
        now = self._clock.monotonic()
        if self._last_drop_log is None or now - self._last_drop_log >= _DROP_LOG_INTERVAL:
            self._last_drop_log = now
            recent = self._drops_unlogged
            self._drops_unlogged = Dropped(0, 0, 0)
            log.warning(
                "influx[%s]: buffer full (%s bytes): dropped the oldest %d batches (%s points);"
                " %s points dropped since start",
                self.name, f"{self.buffer.max_bytes:,}", recent.batches, f"{recent.points:,}",
                f"{self.stats.dropped_points['buffer_full']:,}",
            )

    def _count_dropped(self, reason: str, batches: int, points: int) -> None:
        self.stats.dropped_batches[reason] += batches
        self.stats.dropped_points[reason] += points

    async def _send_loop(self) -> None:
        while True:
            if not await self._send_all():
                await self._clock.sleep(self._retry_delay())
                continue
            if self.buffer.counts().batches == 0:
                self._drained()
                self._empty.set()
            # Set by every append since the last look at the disk, so nothing waits needlessly.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(5.0, self.flush_interval)):
                    await self._stored.wait()

    async def _send_all(self) -> bool:
        """Send oldest first, keeping `max_in_flight` requests busy, until nothing is left
        (True) or a batch could not go (False: it stays, and the caller waits)."""
        slots = asyncio.Semaphore(self.max_in_flight)
        ok = True
        after = 0  # the newest batch handed out in this pass

        async def send(batch: Batch) -> None:
            nonlocal ok
            try:
                if not await self._send(batch):
                    ok = False
            finally:
                slots.release()

        async with asyncio.TaskGroup() as group:
            while ok:
                self._stored.clear()
                try:
                    batches = await self._on_disk(self.buffer.peek, _PEEK, after)
                except SpoolError as exc:
                    log.error("influx[%s]: %s", self.name, exc)
                    ok = False
                    break
                if not batches:
                    break
                for batch in batches:
                    await slots.acquire()
                    if not ok:
                        slots.release()
                        break
                    after = batch.id
                    group.create_task(send(batch), name=f"influx[{self.name}].send[{batch.id}]")
        return ok

    async def _send(self, batch: Batch) -> bool:
        """Send one batch; False when InfluxDB cannot take it now (keep it, wait, retry)."""
        try:
            await self._deliver(batch.body, batch.points)
        except InfluxRejected as exc:
            self.stats.write_errors["rejected"] += 1
            self._count_dropped("rejected", 1, batch.points)
            log.error(
                "influx[%s]: %s rejected batch %d (%d points), set aside in %s: %s",
                self.name, self.transport.target, batch.id, batch.points, self.buffer.path, exc,
            )
            return await self._forget(self.buffer.reject, batch, str(exc))
        except (InfluxUnavailable, InfluxRefused) as exc:
            self._failed(exc)
            return False
        self._written(batch.points)
        return await self._forget(self.buffer.remove, batch.id)

    async def _forget(self, how: Callable[..., bool], *args: object) -> bool:
        try:
            await self._on_disk(how, *args)
        except SpoolError as exc:
            # The batch stays and goes again: a duplicate InfluxDB keeps once.
            log.error("influx[%s]: %s", self.name, exc)
            return False
        return True

    async def _deliver(self, body: bytes, points: int) -> None:
        try:
            await self.transport.write(body)
        except InfluxTooLarge:
            if points <= 1:
                raise
            self.stats.write_errors["too_large"] += 1
            # Halve and try again; each half is split further if still too large.
            lines = (await self._on_disk(decompress, body)).split(b"\n")
            half = len(lines) // 2
            for part in (lines[:half], lines[half:]):
                packed = await self._on_disk(compress, b"\n".join(part), self.compresslevel)
                await self._deliver(packed, len(part))

    def _retry_delay(self) -> float:
        delay = self._backoff.next()
        if self._retry_after is not None:
            delay = max(delay, min(self._retry_after, _MAX_RETRY_AFTER))
            self._retry_after = None
        return delay

    def _failed(self, exc: SinkError) -> None:
        kind: State = "refused" if isinstance(exc, InfluxRefused) else "unavailable"
        self.stats.write_errors[kind] += 1
        if isinstance(exc, InfluxUnavailable) and exc.retry_after is not None:
            self._retry_after = max(self._retry_after or 0.0, exc.retry_after)
        if self.state == kind:
            return
        if self._down_since is None:
            self._down_since = self._clock.monotonic()
        self.state = kind
        self._draining_since = None
        buffered = f"{self.buffer.counts().points + len(self._pending):,}"
        if kind == "refused":
            log.error("influx[%s]: InfluxDB refuses writes, buffering: %s: %s (%s points held)",
                      self.name, self.transport.target, exc, buffered)
        else:
            log.warning("influx[%s]: InfluxDB unreachable, buffering: %s: %s (%s points held)",
                        self.name, self.transport.target, exc, buffered)

    def _written(self, points: int) -> None:
        self.stats.points_written += points
        self.stats.batches_written += 1
        self.stats.last_written = self._clock.now()
        self._backoff.reset()
        if self.state == "up":
            if self._draining_since is not None:
                self._drained_points += points
            return
        backlog = self.buffer.counts().points  # what waited, this batch included
        if self._down_since is not None:
            log.warning(
                "influx[%s]: InfluxDB back after %.1f s, draining %s points",
                self.name, self._clock.monotonic() - self._down_since, f"{backlog:,}",
            )
        elif self._resuming:
            log.info("influx[%s]: writing to %s, draining %s points", self.name,
                     self.transport.target, f"{backlog:,}")
        else:
            log.info("influx[%s]: writing to %s", self.name, self.transport.target)
        if (self._down_since is not None or self._resuming) and backlog > points:
            self._draining_since = self._clock.monotonic()
            self._drained_points = points
        self.state = "up"
        self._down_since = None
        self._resuming = False

    def _drained(self) -> None:
        if self._draining_since is None:
            return
        log.info(
            "influx[%s]: buffer drained, %s points sent in %.1f s", self.name,
            f"{self._drained_points:,}", self._clock.monotonic() - self._draining_since,
        )
        self._draining_since = None

    # --- reporting ---------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self.state == "up"

    def metrics(self) -> list[Metric]:
        """Buffer depth, age, writes, errors and drops, labelled `writer=<name>`."""
        counts = self.buffer.counts()
        w = self.name
        age = None if counts.oldest is None else max(0.0, self._clock.now() - counts.oldest)
        gauges = [
            ("fireroom_influx_buffer_batches", "Batches waiting on disk.", counts.batches),
            ("fireroom_influx_buffer_bytes", "Compressed bytes waiting on disk.", counts.bytes),
            ("fireroom_influx_buffer_points", "Points waiting on disk.", counts.points),
            ("fireroom_influx_buffer_max_bytes", "Bound of the disk buffer.",
             self.buffer.max_bytes),
            ("fireroom_influx_buffer_oldest_age_seconds",
             "Age of the oldest batch on disk (0 when empty).", age or 0.0),
            ("fireroom_influx_pending_points", "Points in memory, not yet on disk.",
             len(self._pending)),
            ("fireroom_influx_rejected_buffer_batches", "Rejected batches kept for inspection.",
             counts.rejected_batches),
            ("fireroom_influx_up", "1 when the last write succeeded.",
             1 if self.state == "up" else 0),
        ]
        metrics = [Metric(name, "gauge", text, [({"writer": w}, value)])
                   for name, text, value in gauges]
        written = Metric("fireroom_influx_points_written_total", "counter",
                         "Points InfluxDB accepted.", [({"writer": w}, self.stats.points_written)])
        batches = Metric("fireroom_influx_batches_written_total", "counter",
                         "Batches InfluxDB accepted.",
                         [({"writer": w}, self.stats.batches_written)])
        errors = Metric("fireroom_influx_write_errors_total", "counter",
                        "Failed writes by kind: unavailable, refused, rejected, too_large.")
        for kind in ("unavailable", "refused", "rejected", "too_large"):
            errors.add(self.stats.write_errors[kind], writer=w, kind=kind)
        dropped = Metric("fireroom_influx_dropped_points_total", "counter",
                         "Points given up, by reason: buffer_full (oldest dropped), rejected "
                         "(set aside), overflow (memory, disk too slow).")
        dropped_batches = Metric("fireroom_influx_dropped_batches_total", "counter",
                                 "Batches given up, by reason.")
        for reason in ("buffer_full", "rejected", "overflow"):
            dropped.add(self.stats.dropped_points[reason], writer=w, reason=reason)
            dropped_batches.add(self.stats.dropped_batches[reason], writer=w, reason=reason)
        return [*metrics, written, batches, errors, dropped, dropped_batches]
