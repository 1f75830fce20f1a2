"""The v2 write API (influxdb-client) into a real VictoriaMetrics, read back through its export
API: field `value` of measurement `reading` becomes the metric `reading_value`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from fireroom.config import parse_site
from fireroom.domain import Quality, Reading
from gateway.backoff import Backoff
from gateway.influx import BufferedWriter, DiskBuffer, InfluxSettings, InfluxSink
from gateway.influx.v2 import V2Transport
from gateway.poller import Scan
from tests.gateway.influx.helpers import eventually, scans_of, unique_name
from tests.integration.sites import EXAMPLE
from tests.servers import HttpServer, free_port

pytestmark = pytest.mark.integration


def _export(url: str, match: str) -> list[dict[str, Any]]:
    text = httpx.post(f"{url}/api/v1/export", data={"match[]": match}, timeout=10).text
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


async def test_v2_readings_land_in_victoria_metrics(
    victoria_metrics: HttpServer, tmp_path: Path
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["site"]["id"] = unique_name("v2")  # the server is shared: a site of our own
    site = parse_site(data, base_dir=EXAMPLE.parent)
    settings = InfluxSettings.resolve({}, {
        "FIREROOM_INFLUX_URL": victoria_metrics.url, "FIREROOM_INFLUX_API": "v2",
        "FIREROOM_INFLUX_BUCKET": "fireroom", "FIREROOM_INFLUX_ORG": "fire-dept",
        "FIREROOM_INFLUX_TOKEN": "unused-by-victoria-metrics",
    })
    assert settings is not None
    transport = settings.transport()
    assert isinstance(transport, V2Transport)
    writer = BufferedWriter(transport, DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10**8),
                            batch_points=100, flush_interval=0.1,
                            backoff=Backoff(initial=0.05, cap=0.3))
    sink = InfluxSink(site, writer)
    start = float(round(time.time()) - 60)  # recent: export reads the retention period
    scans = [*scans_of(site, "pump-1", 20, start), *scans_of(site, "ai-1", 20, start)]
    lost = Scan("ai-1", start + 30, 21,
                [Reading(spec.name, None, Quality.COMM_LOST) for spec in site.points["ai-1"]],
                ok=False)
    valued = sum(len(scan.readings) for scan in scans)  # the lost scan has no values
    task = asyncio.create_task(writer.run(), name="test.writer")
    try:
        for scan in [*scans, lost]:
            sink.scan(scan)
        assert await eventually(
            lambda: writer.stats.points_written == valued + len(lost.readings), 20)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    match = f'{{__name__="reading_value",site="{site.id}"}}'
    series: list[dict[str, Any]] = []

    def all_there() -> bool:
        nonlocal series
        series = _export(victoria_metrics.url, match)  # new series show up after a moment
        return sum(len(s["values"]) for s in series) >= valued

    assert await eventually(all_there, 30, interval=0.3)
    assert sum(len(s["values"]) for s in series) == valued
    mode = next(s for s in series if s["metric"]["device"] == "pump-1"
                and s["metric"]["point"] == "mode")
    assert mode["metric"]["kind"] == "pump_mode"
    assert mode["values"] == [2] * 20  # the enum's code
    assert mode["timestamps"][0] == round(start * 1000)


async def test_v2_errors_map_to_the_writer_s_cases(tmp_path: Path) -> None:
    # Nothing listens: unavailable, kept, retried.
    transport = V2Transport(f"http://127.0.0.1:{free_port()}", bucket="b", timeout=2)
    writer = BufferedWriter(transport, DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10**8),
                            flush_interval=0.05, backoff=Backoff(initial=0.05, cap=0.2))
    task = asyncio.create_task(writer.run(), name="test.writer")
    try:
        writer.put(["m v=1 1"])
        assert await eventually(lambda: writer.stats.write_errors["unavailable"] >= 2, 20)
        assert writer.buffer.counts().points == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
