"""InfluxDB sink benchmark: gateway readings into a real InfluxDB 1.x through the disk buffer.

    python -m benchmarks.influx             # 100 devices x 1000 points; a 6 million point backlog
    python -m benchmarks.influx --quick     # the same, scaled down to a few seconds

Scans are generated in this process (`gateway.poller.Scan`, panel points with flag words, as the
pipeline benchmark's), so the Modbus side is not the limit; InfluxDB 1.x (Debian `influxd`) runs
as its own process from `tests.servers.run_influxdb`.

1. Sustained: scans go through `InfluxSink` -> `BufferedWriter` -> SQLite -> `/write` as fast as
   the writer drains them (the producer waits while more than a few batches are in memory or on
   disk); points/s is what InfluxDB accepted over the window.
2. Backlog: InfluxDB is stopped, an outage of `--outage` seconds at `--rate` points/s is replayed
   into the running writer (timestamps spread over the outage, as a gateway would have produced
   them), then InfluxDB is started on the same data: the drain is timed from InfluxDB answering
   to the buffer being empty, and the points in InfluxDB are counted (zero loss).

CPU seconds are this process's (formatting, compression, SQLite, HTTP) and influxd's apart.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from fireroom.config import Site, parse_site
from fireroom.domain import Quality, Reading
from gateway.backoff import Backoff
from gateway.influx import BufferedWriter, DiskBuffer, InfluxSink, V1Transport
from gateway.poller import Scan
from tests.servers import HttpServer, free_port, run_influxdb

TICKS = os.sysconf("SC_CLK_TCK")
DATABASE = "bench"


def _site(devices: int, points: int) -> Site:
    return parse_site({
        "site": {"id": "bench"},
        "devices": [
            {
                "id": f"panel-{d:03d}",
                "profile": "gbt26875-panel",
                "transport": {"type": "tcp", "host": "127.0.0.1", "port": 15000 + d},
                "points": [{"name": f"P{i:04d}", "index": i} for i in range(points)],
            }
            for d in range(devices)
        ],
    })


def _readings(site: Site, device: str) -> list[Reading]:
    """A panel's scan: every detector `normal`, one in ten also `fault`, the system word too."""
    readings = []
    for index, spec in enumerate(site.points[device]):
        if spec.flags:
            names = [spec.flags[min(spec.flags)]]
            if index % 10 == 3 and len(spec.flags) > 2:
                names.append(sorted(spec.flags.items())[2][1])
            readings.append(Reading(spec.name, names, Quality.GOOD))
        else:
            readings.append(Reading(spec.name, index % 7, Quality.GOOD))
    return readings


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _influxd_pid(directory: Path) -> int | None:
    config = str(directory / "influxdb.conf")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if config in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                return int(entry.name)
    return None


@contextlib.contextmanager
def _influxdb(directory: Path, port: int) -> Iterator[tuple[HttpServer, int | None]]:
    with run_influxdb(directory, port) as server:
        yield server, _influxd_pid(directory)


def _create_database(url: str) -> None:
    httpx.post(f"{url}/query", data={"q": f"CREATE DATABASE {DATABASE}"},
               timeout=30).raise_for_status()


def _file_bytes(directory: Path, pattern: str) -> int:
    return sum(path.stat().st_size for path in directory.glob(pattern))


def _count(url: str) -> int:
    answer = httpx.post(f"{url}/query", params={"db": DATABASE},
                        data={"q": "SELECT count(quality) FROM reading"}, timeout=600)
    series = answer.json()["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


@contextlib.asynccontextmanager
async def _running(writer: BufferedWriter) -> AsyncIterator[None]:
    task = asyncio.create_task(writer.run(), name="bench.writer")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _sustained(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    site = _site(args.devices, args.points)
    port = free_port()
    with _influxdb(root / "influxdb-sustained", port) as (server, pid):
        await asyncio.to_thread(_create_database, server.url)
        writer = BufferedWriter(V1Transport(server.url, database=DATABASE, timeout=30),
                                DiskBuffer(root / "sustained.sqlite3", max_bytes=2**31),
                                batch_points=args.batch, max_in_flight=args.in_flight)
        sink = InfluxSink(site, writer)
        readings = {device: _readings(site, device) for device in site.points}
        base = time.time() - 86400
        produced = tick = 0
        backlog = 10 * args.batch  # in memory or on disk, not yet accepted
        async with _running(writer):

            async def produce(until: float) -> None:
                nonlocal produced, tick
                while time.monotonic() < until:
                    for seq, (device, values) in enumerate(readings.items()):
                        while produced - writer.stats.points_written > backlog:
                            await asyncio.sleep(0.001)
                        sink.scan(Scan(device, base + tick + seq / 1000, tick, values, ok=True))
                        produced += len(values)
                    tick += 1

            await produce(time.monotonic() + args.warmup)
            written0, cpu0 = writer.stats.points_written, time.process_time()
            influx0 = _cpu_seconds(pid) if pid else float("nan")
            start = time.monotonic()
            await produce(start + args.seconds)
            elapsed = time.monotonic() - start
            written = writer.stats.points_written - written0
            cpu = time.process_time() - cpu0
            influx_cpu = (_cpu_seconds(pid) if pid else float("nan")) - influx0
            await writer.flush()
            async with asyncio.timeout(300):
                while writer.buffer.counts().points:
                    await asyncio.sleep(0.05)
        stored = await asyncio.to_thread(_count, server.url)
    return {
        "sustained_points_per_s": round(written / elapsed),
        "sustained_window_s": round(elapsed, 1),
        "sustained_process_cpu_s_per_s": round(cpu / elapsed, 2),
        "sustained_process_cpu_us_per_point": round(cpu / max(1, written) * 1e6, 2),
        "sustained_influxd_cpu_s_per_s": round(influx_cpu / elapsed, 2),
        "sustained_points_produced": produced,
        "sustained_points_in_influxdb": stored,
        "sustained_lost_points": produced - stored,
    }


async def _backlog(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    rate, outage = args.rate, args.outage
    devices = max(1, rate // args.points)
    site = _site(devices, args.points)
    readings = {device: _readings(site, device) for device in site.points}
    expected = sum(len(values) for values in readings.values()) * outage
    directory, port = root / "influxdb-backlog", free_port()
    with _influxdb(directory, port) as (server, _):
        await asyncio.to_thread(_create_database, server.url)
        url = server.url
    path = root / "backlog.sqlite3"
    writer = BufferedWriter(V1Transport(url, database=DATABASE, timeout=60),
                            DiskBuffer(path, max_bytes=2**33), batch_points=args.batch,
                            max_in_flight=args.in_flight, backoff=Backoff(initial=0.5, cap=2.0))
    sink = InfluxSink(site, writer)
    start_ts = time.time() - outage - 60
    async with _running(writer):
        # The outage: InfluxDB is down, the writer keeps failing, the buffer takes everything.
        cpu0, built0 = time.process_time(), time.monotonic()
        for tick in range(outage):
            for seq, (device, values) in enumerate(readings.items()):
                sink.scan(Scan(device, start_ts + tick + seq / 1000, tick, values, ok=True))
            if writer.pending >= 4 * args.batch:
                await writer.flush()
        await writer.flush()
        build_s = time.monotonic() - built0
        build_cpu = time.process_time() - cpu0
        counts = writer.buffer.counts()
        files = await asyncio.to_thread(_file_bytes, root, "backlog.sqlite3*")
        # InfluxDB comes back on the same data; time the drain.
        with _influxdb(directory, port) as (server, pid):
            ready = time.monotonic()
            cpu0 = time.process_time()
            influx0 = _cpu_seconds(pid) if pid else float("nan")
            first_write: float | None = None
            async with asyncio.timeout(1800):
                while writer.buffer.counts().points:
                    if first_write is None and writer.stats.points_written:
                        first_write = time.monotonic() - ready
                    await asyncio.sleep(0.02)
            drain_s = time.monotonic() - ready
            drain_cpu = time.process_time() - cpu0
            influx_cpu = (_cpu_seconds(pid) if pid else float("nan")) - influx0
            stored = await asyncio.to_thread(_count, server.url)
    dropped = sum(writer.stats.dropped_points.values())
    return {
        "backlog_points": expected,
        "backlog_outage_s": outage,
        "backlog_rate_points_per_s": expected // outage,
        "backlog_build_s": round(build_s, 1),
        "backlog_build_cpu_s": round(build_cpu, 1),
        "buffer_points": counts.points,
        "buffer_batches": counts.batches,
        "buffer_bytes_per_point": round(counts.bytes / max(1, counts.points), 2),
        "buffer_file_bytes_per_point": round(files / max(1, counts.points), 2),
        "drain_s": round(drain_s, 1),
        "drain_first_write_after_ready_s": round(first_write or 0.0, 2),
        "drain_points_per_s": round(expected / drain_s),
        "drain_writer_cpu_s": round(drain_cpu, 1),
        "drain_writer_cpu_us_per_point": round(drain_cpu / expected * 1e6, 2),
        "drain_influxd_cpu_s": round(influx_cpu, 1),
        "drain_points_in_influxdb": stored,
        "drain_lost_points": expected - stored,
        "dropped_points": dropped,
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fireroom-influx-bench-") as tmp:
        root = Path(tmp)
        result: dict[str, Any] = {
            "benchmark": "influx",
            "quick": args.quick,
            "devices": args.devices,
            "points_per_device": args.points,
            "batch_points": args.batch,
            "in_flight": args.in_flight,
        }
        result |= await _sustained(args, root)
        result |= await _backlog(args, root)
        result["machine"] = {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "InfluxDB and this process share the machine (and other developers' tests)",
        }
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="scaled down: seconds, not minutes")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--points", type=int, default=1000, help="points per device")
    parser.add_argument("--seconds", type=float, default=30.0, help="sustained window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=10_000, help="points/s during the outage")
    parser.add_argument("--outage", type=int, default=600, help="outage seconds to replay")
    parser.add_argument("--batch", type=int, default=5000, help="points per batch")
    parser.add_argument("--in-flight", type=int, default=2, help="requests at once")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.points, args.seconds, args.warmup = 10, 200, 5.0, 1.0
        args.rate, args.outage = 2000, 60
    print(json.dumps(asyncio.run(_run(args))))


if __name__ == "__main__":
    main()
