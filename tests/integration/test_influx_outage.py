"""Outages on real parts: InfluxDB 1.x stopped and restarted mid-stream on the same data, and the
gateway process killed with SIGKILL while InfluxDB is down. Nothing already buffered may be lost;
InfluxDB keeps one point per series and timestamp, so resent batches count once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from fireroom.config import load_site
from gateway.backoff import Backoff
from gateway.influx import BufferedWriter, DiskBuffer, InfluxSink, V1Transport, decompress
from tests.gateway.influx.helpers import (
    count_points,
    create_database,
    eventually,
    scans_of,
    unique_name,
)
from tests.integration.sites import EXAMPLE, example_data
from tests.servers import Broker, HttpServer, free_port, run_influxdb, wait_for_port

pytestmark = pytest.mark.integration

FIREROOM = [sys.executable, "-m", "fireroom.cli"]


class _Server:
    """One InfluxDB 1.x on a fixed port and data directory, started and stopped at will."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self._running: contextlib.AbstractContextManager[HttpServer] | None = None

    async def start(self) -> HttpServer:
        self._running = run_influxdb(self.directory, self.port)
        return await asyncio.to_thread(self._running.__enter__)

    async def stop(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            await asyncio.to_thread(running.__exit__, None, None, None)


@pytest.mark.timeout(180)
async def test_influxdb_stopped_and_restarted_mid_stream_gets_every_reading(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = load_site(EXAMPLE)
    server = _Server(tmp_path / "influxdb", free_port())
    database = unique_name("outage")
    url = (await server.start()).url
    create_database(url, database)
    writer = BufferedWriter(
        V1Transport(url, database=database, timeout=3),
        DiskBuffer(tmp_path / "buffer.sqlite3", max_bytes=10**9),
        batch_points=500, flush_interval=0.1, backoff=Backoff(initial=0.1, cap=0.5),
    )
    sink = InfluxSink(site, writer)
    produced = 0
    scan_number = 0
    producing = asyncio.Event()
    producing.set()

    async def produce() -> None:
        # Four devices, one scan each every 10 ms of test time, timestamps 1 s apart.
        nonlocal produced, scan_number
        while producing.is_set():
            for device in site.points:
                (scan,) = scans_of(site, device, 1, 1_700_000_000.0 + scan_number)
                sink.scan(scan)
                produced += len(scan.readings)
            scan_number += 1
            await asyncio.sleep(0.01)

    try:
        with caplog.at_level(logging.INFO, logger="gateway.influx.writer"):
            run = asyncio.create_task(writer.run(), name="test.writer")
            producer = asyncio.create_task(produce(), name="test.producer")
            assert await eventually(lambda: writer.stats.points_written >= 5000, 30)
            await server.stop()  # mid-stream: the producer goes on
            assert await eventually(lambda: writer.state == "unavailable", 30)
            held = writer.buffer.counts().points
            assert await eventually(lambda: writer.buffer.counts().points >= held + 5000, 30)
            assert writer.stats.dropped_points.total() == 0
            await server.start()
            assert await eventually(lambda: writer.state == "up", 30)
            written = writer.stats.points_written
            assert await eventually(lambda: writer.stats.points_written >= written + 5000, 30)
            producing.clear()
            await producer
            await writer.flush()
            assert await eventually(lambda: writer.buffer.counts().points == 0, 60)
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
        assert count_points(url, database) == produced
        assert writer.stats.dropped_points.total() == 0
        messages = [record.getMessage() for record in caplog.records]
        assert sum("InfluxDB unreachable, buffering" in m for m in messages) == 1
        back = [m for m in messages if "InfluxDB back after" in m]
        assert len(back) == 1
        assert re.search(r"draining [\d,]+ points", back[0])
    finally:
        await server.stop()


class _Gateway:
    """`fireroom gateway` as its own process, with its log in a file."""

    def __init__(self, config: Path, data_dir: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*FIREROOM, "gateway", "--config", str(config), "--data-dir", str(data_dir)],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env},
            )

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextlib.contextmanager
def _simulated_site(config: Path, directory: Path, ports: list[int]) -> Iterator[None]:
    with (directory / "simulate.log").open("wb") as out:
        process = subprocess.Popen([*FIREROOM, "simulate", "--config", str(config)],
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        for port in ports:
            wait_for_port("127.0.0.1", port, timeout=20)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _metric(port: int, name: str) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return None if match is None else float(match.group(1))


def _wait(check: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.timeout(180)
def test_a_gateway_killed_with_sigkill_loses_nothing_it_had_buffered(
    mosquitto: Broker, tmp_path: Path
) -> None:
    data = example_data(mosquitto, tmp_path / "data")
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    influx_port, metrics_port = free_port(), free_port()
    database = unique_name("sigkill")
    env = {
        "FIREROOM_INFLUX_URL": f"http://127.0.0.1:{influx_port}",
        "FIREROOM_INFLUX_API": "v1",
        "FIREROOM_INFLUX_DATABASE": database,
        "FIREROOM_METRICS_PORT": str(metrics_port),
    }
    gateway_dir = tmp_path / "gateway"
    buffer_file = gateway_dir / "influx-readings.sqlite3"
    log = tmp_path / "gateway.log"
    ports = [device["transport"]["port"] for device in data["devices"]]
    with _simulated_site(config, tmp_path, ports):
        # InfluxDB is down: the buffer fills.
        first = _Gateway(config, gateway_dir, env, log)
        batches = 'fireroom_influx_buffer_batches{writer="readings"}'
        try:
            assert _wait(lambda: (_metric(metrics_port, batches) or 0) >= 4, 60), log.read_text()
        finally:
            assert first.stop(signal.SIGKILL) == -signal.SIGKILL

        buffer = DiskBuffer(buffer_file, max_bytes=10**9)
        held = buffer.peek(100_000)
        buffer.close()
        lines = [line for batch in held for line in decompress(batch.body).split(b"\n")]
        assert len(lines) == sum(batch.points for batch in held) > 0
        stamps = [int(line.rsplit(b" ", 1)[1]) for line in lines]
        window = f"WHERE time >= {min(stamps)} AND time <= {max(stamps)}"

        with run_influxdb(tmp_path / "influxdb", influx_port) as influx:
            create_database(influx.url, database)
            second = _Gateway(config, gateway_dir, env, log)
            try:
                assert _wait(lambda: count_points(influx.url, database, window) >= len(lines),
                             60), log.read_text()[-3000:]
                # And the readings of the new run flow as well.
                assert _wait(lambda: count_points(influx.url, database,
                                                  f"WHERE time > {max(stamps)}") > 0, 30)
            finally:
                assert second.stop() == 0, log.read_text()[-3000:]
            assert count_points(influx.url, database, window) == len(lines)
    text = log.read_text()
    assert "InfluxDB unreachable, buffering" in text
    assert "buffered from before" in text
