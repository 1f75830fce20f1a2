"""The buffered writer against a real InfluxDB 1.x: the schema as written, malformed batches,
refusals, an unreachable server, a full buffer and oversized batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fireroom.config import load_site
from fireroom.domain import Quality, Reading
from fireroom.errors import InfluxTooLarge
from gateway.backoff import Backoff
from gateway.influx import (
    BufferedWriter,
    DiskBuffer,
    InfluxSink,
    V1Transport,
    compress,
    decompress,
)
from gateway.metrics import render
from gateway.poller import Scan
from tests.gateway.influx.helpers import (
    count_points,
    create_database,
    eventually,
    query,
    scans_of,
    unique_name,
)
from tests.servers import HttpServer, free_port

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "site.yaml"


def fast_backoff() -> Backoff:
    return Backoff(initial=0.05, cap=0.3)


def v1_writer(
    url: str, database: str, path: Path, *, max_bytes: int = 100_000_000, batch_points: int = 5000,
    max_in_flight: int = 2,
) -> BufferedWriter:
    return BufferedWriter(
        V1Transport(url, database=database, timeout=5),
        DiskBuffer(path, max_bytes=max_bytes),
        batch_points=batch_points,
        flush_interval=0.1,
        max_in_flight=max_in_flight,
        backoff=fast_backoff(),
    )


@contextlib.asynccontextmanager
async def running(writer: BufferedWriter) -> AsyncIterator[BufferedWriter]:
    task = asyncio.create_task(writer.run(), name="test.writer")
    try:
        yield writer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_readings_land_as_the_schema_says(influxdb: HttpServer, tmp_path: Path) -> None:
    database = unique_name("schema")
    create_database(influxdb.url, database)
    site = load_site(EXAMPLE)
    sink = InfluxSink(site, v1_writer(influxdb.url, database, tmp_path / "b.sqlite3"))
    scans = [*scans_of(site, "pump-1", 5, 1000.0), *scans_of(site, "ai-1", 5, 1000.0)]
    lost = Scan("ai-1", 1010.0, 6,
                [Reading(spec.name, None, Quality.COMM_LOST) for spec in site.points["ai-1"]],
                ok=False)
    expected = sum(len(scan.readings) for scan in [*scans, lost])
    async with running(sink.writer) as writer:
        for scan in [*scans, lost]:
            sink.scan(scan)
        async with asyncio.timeout(20):
            await writer.drained()
        assert writer.stats.points_written == expected
    assert count_points(influxdb.url, database) == expected
    mode = query(influxdb.url, database,
                 "SELECT value, state, quality FROM reading WHERE point = 'mode' LIMIT 1")
    assert mode[0][1:] == [2, "manual", "good"]  # enum code 2
    status = query(influxdb.url, database,
                   "SELECT value, state FROM reading WHERE point = 'module_status' LIMIT 1")
    flags = site.points["ai-1"][0].flags
    assert flags is not None
    assert status[0][1:] == [1 << min(flags), flags[min(flags)]]  # the flag word's code
    pressure = query(influxdb.url, database,
                     "SELECT value, raw, kind FROM reading WHERE point = 'main_pressure'"
                     " AND quality = 'good' LIMIT 1")
    assert pressure[0][2:] == [12.0, "pressure"]
    gone = query(influxdb.url, database,
                 "SELECT count(quality), count(value) FROM reading WHERE quality = 'comm_lost'")
    assert gone[0][1:] == [len(lost.readings), None]  # lost devices have no values


async def test_a_malformed_batch_is_logged_counted_and_set_aside(
    influxdb: HttpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = unique_name("malformed")
    create_database(influxdb.url, database)
    # One request at a time: with two, which side of a type clash arrives first is a race.
    writer = v1_writer(influxdb.url, database, tmp_path / "b.sqlite3", max_in_flight=1)
    good = [f'reading,site=s,device=d,point=p,kind=value quality="good",value={n}.0 {n}'
            for n in range(1, 101)]
    writer.put(good[:50])
    await writer.flush()
    writer.buffer.append([(compress(b"reading,site=s value= 7\nthis is not line protocol"), 2)])
    # A type clash with what is already stored is rejected too (InfluxDB: partial write).
    writer.buffer.append([(compress(b'reading,site=s,device=d,point=p,kind=value value="x" 9'), 1)])
    writer.put(good[50:])
    await writer.flush()
    with caplog.at_level(logging.ERROR, logger="gateway.influx.writer"):
        async with running(writer):
            assert await eventually(lambda: writer.buffer.counts().batches == 0, 20)
    assert count_points(influxdb.url, database) == 100
    assert writer.stats.write_errors["rejected"] == 2
    assert writer.stats.dropped_points["rejected"] == 3
    assert writer.stats.points_written == 100
    buffer = DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10**8)  # the writer closed its own
    aside = buffer.rejected()
    buffer.close()
    assert [batch.points for batch, _ in aside] == [2, 1]
    assert "unable to parse" in aside[0][1]
    assert "conflict" in aside[1][1]
    assert decompress(aside[0][0].body).startswith(b"reading,site=s value= 7")
    messages = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert len(messages) == 2
    assert "HTTP 400" in messages[0]
    text = render(writer.metrics()).decode()
    assert 'fireroom_influx_write_errors_total{writer="readings",kind="rejected"} 2' in text
    assert 'fireroom_influx_dropped_points_total{writer="readings",reason="rejected"} 3' in text


async def test_a_missing_database_is_retried_until_it_exists(
    influxdb: HttpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = unique_name("later")
    writer = v1_writer(influxdb.url, database, tmp_path / "b.sqlite3")
    lines = [f"reading,site=s,device=d,point=p,kind=value quality=\"good\" {n}"
             for n in range(1, 1001)]
    with caplog.at_level(logging.WARNING, logger="gateway.influx.writer"):
        async with running(writer):
            writer.put(lines)
            assert await eventually(lambda: writer.stats.write_errors["refused"] >= 2, 20)
            assert writer.state == "refused"
            assert writer.buffer.counts().points == 1000  # kept, not set aside
            create_database(influxdb.url, database)
            assert await eventually(lambda: writer.buffer.counts().points == 0, 20)
    assert writer.stats.write_errors["rejected"] == 0
    assert count_points(influxdb.url, database) == 1000
    messages = [r.getMessage() for r in caplog.records]
    assert any("InfluxDB refuses writes, buffering" in m and "HTTP 404" in m for m in messages)
    assert any("InfluxDB back after" in m and "draining 1,000 points" in m for m in messages)


async def test_an_unreachable_server_fills_the_buffer_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = v1_writer(f"http://127.0.0.1:{free_port()}", "nowhere", tmp_path / "b.sqlite3",
                       batch_points=100)
    with caplog.at_level(logging.WARNING, logger="gateway.influx.writer"):
        async with running(writer):
            for start in range(0, 1000, 100):
                writer.put([f"m v={n} {n}" for n in range(start, start + 100)])
                await asyncio.sleep(0.05)
            assert await eventually(lambda: writer.stats.write_errors["unavailable"] >= 3, 20)
            assert await eventually(lambda: writer.buffer.counts().points == 1000, 10)
            text = render(writer.metrics()).decode()
    assert writer.state == "unavailable"
    assert not writer.available
    unreachable = [r for r in caplog.records if "unreachable, buffering" in r.getMessage()]
    assert len(unreachable) == 1  # a state change, not one line per retry
    assert 'fireroom_influx_buffer_points{writer="readings"} 1000' in text
    assert 'fireroom_influx_buffer_batches{writer="readings"} 10' in text
    assert 'fireroom_influx_up{writer="readings"} 0' in text
    assert "fireroom_influx_buffer_oldest_age_seconds" in text
    # A clean stop keeps the buffer for the next run.
    again = DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10**8)
    assert again.counts().points == 1000
    again.close()


async def test_a_full_buffer_drops_the_oldest_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = v1_writer(f"http://127.0.0.1:{free_port()}", "nowhere", tmp_path / "b.sqlite3",
                       batch_points=50, max_bytes=2000)
    with caplog.at_level(logging.WARNING, logger="gateway.influx.writer"):
        async with running(writer):
            for start in range(0, 2000, 50):
                writer.put([f"reading,site=s value={n}.5 {n}" for n in range(start, start + 50)])
                await writer.flush()
            counts = writer.buffer.counts()
    dropped = writer.stats.dropped_points["buffer_full"]
    assert dropped > 0
    assert counts.bytes <= 2000
    assert counts.points + dropped == 2000  # every point is either kept or counted
    kept = writer.buffer.counts()
    assert kept.points == counts.points
    full = [r.getMessage() for r in caplog.records if "buffer full" in r.getMessage()]
    assert full
    assert "dropped the oldest" in full[0]


class _Picky:
    """A transport that takes at most `limit` lines per write and remembers what it took."""

    target = "picky"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken: list[bytes] = []
        self.refusals = 0

    async def write(self, body: bytes) -> None:
        lines = decompress(body).split(b"\n")
        if len(lines) > self.limit:
            self.refusals += 1
            raise InfluxTooLarge("HTTP 413: too large", 413)
        self.taken.extend(lines)

    async def aclose(self) -> None:
        pass


async def test_a_batch_too_large_for_the_server_is_split(tmp_path: Path) -> None:
    picky = _Picky(limit=30)
    writer = BufferedWriter(picky, DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10**8),
                            batch_points=100, flush_interval=0.05, backoff=fast_backoff(),
                            max_in_flight=1)
    lines = [f"m v={n}" for n in range(250)]
    async with running(writer):
        writer.put(lines)
        assert await eventually(lambda: writer.stats.points_written == 250, 10)
    assert picky.taken == [line.encode() for line in lines]  # all, once, in order
    assert picky.refusals > 0
    assert writer.stats.write_errors["too_large"] == picky.refusals
    assert writer.stats.write_errors["rejected"] == 0


class _Slow:
    """A transport that notes the order writes start in and how many overlap."""

    target = "slow"

    def __init__(self) -> None:
        self.started: list[bytes] = []
        self.busy = self.most_busy = 0

    async def write(self, body: bytes) -> None:
        self.started.append(decompress(body).split(b"\n")[0])
        self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        await asyncio.sleep(0.01)
        self.busy -= 1

    async def aclose(self) -> None:
        pass


async def test_batches_go_oldest_first_two_at_a_time(tmp_path: Path) -> None:
    slow = _Slow()
    writer = BufferedWriter(slow, DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10**8),
                            batch_points=10, flush_interval=0.05, backoff=fast_backoff())
    writer.put([f"m v={n}" for n in range(400)])
    await writer.flush()
    async with running(writer):
        assert await eventually(lambda: writer.stats.points_written == 400, 10)
    assert slow.started == [f"m v={n}".encode() for n in range(0, 400, 10)]
    assert slow.most_busy == 2


def test_memory_is_bounded_when_the_disk_falls_behind(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = BufferedWriter(_Slow(), DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10**8),
                            max_pending_points=100)
    with caplog.at_level(logging.WARNING, logger="gateway.influx.writer"):
        for start in range(0, 250, 50):
            writer.put([f"m v={n}" for n in range(start, start + 50)])
    writer.buffer.close()
    assert writer.pending == 100
    assert writer.stats.dropped_points["overflow"] == 150
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1  # rate-limited
    assert "dropped the oldest" in warnings[0]
