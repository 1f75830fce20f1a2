"""The Prometheus endpoint: exposition format, paths, and the gateway's own counters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.metrics import CONTENT_TYPE, Metric, MetricsServer, device_metrics, render
from gateway.stats import DeviceStats


def test_render_escapes_labels_and_writes_integers_plainly() -> None:
    metric = Metric("x_total", "counter", "Things.")
    metric.add(3, name='a "b"\\c\nd')
    metric.add(None, name="skipped")
    metric.add(0.25)
    assert render([metric]).decode() == (
        "# HELP x_total Things.\n# TYPE x_total counter\n"
        'x_total{name="a \\"b\\"\\\\c\\nd"} 3\n'
        "x_total 0.25\n"
    )


def test_device_stats_become_labelled_families() -> None:
    stats = DeviceStats()
    stats.scans, stats.requests, stats.last_good = 10, 30, 1764130000.5
    stats.errors["timeout"] = 2
    stats.rtts.extend([0.001, 0.002, 0.010])
    report = stats.report(state="online", requests_per_scan=3, published=9, dropped=1)
    text = render(device_metrics({"pump-1": report})).decode()
    assert 'fireroom_device_requests_total{device="pump-1"} 30' in text
    assert 'fireroom_device_errors_total{device="pump-1",kind="timeout"} 2' in text
    assert 'fireroom_device_errors_total{device="pump-1",kind="garbage"} 0' in text
    assert 'fireroom_device_rtt_seconds{device="pump-1",quantile="0.5"} 0.002' in text
    assert 'fireroom_device_rtt_seconds{device="pump-1",quantile="0.99"} 0.01' in text
    assert 'fireroom_device_last_good_timestamp_seconds{device="pump-1"} 1764130000.5' in text
    assert 'fireroom_device_online{device="pump-1"} 1' in text
    assert 'fireroom_device_state{device="pump-1",state="online"} 1' in text
    assert "# TYPE fireroom_device_requests_total counter" in text


@contextlib.asynccontextmanager
async def serving(server: MetricsServer) -> AsyncIterator[str]:
    task = asyncio.create_task(server.serve(), name="test.metrics")
    try:
        async with asyncio.timeout(5):
            await server.serving.wait()
        yield f"http://127.0.0.1:{server.port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_endpoint_serves_every_collector_at_every_scrape() -> None:
    scrapes = 0

    def counting() -> list[Metric]:
        nonlocal scrapes
        scrapes += 1
        return [Metric("scrapes_total", "counter", "Scrapes.", [({}, scrapes)])]

    server = MetricsServer(0, collectors=[counting])
    server.add(lambda: [Metric("up", "gauge", "Up.", [({"job": "t"}, 1)])])
    async with serving(server) as url, httpx.AsyncClient(timeout=5) as client:
        first = await client.get(f"{url}/metrics")
        second = await client.get(f"{url}/metrics?x=1")
        missing = await client.get(f"{url}/")
        head = await client.head(f"{url}/metrics")
        posted = await client.post(f"{url}/metrics")
    assert first.status_code == 200
    assert first.headers["content-type"] == CONTENT_TYPE
    assert "scrapes_total 1\n" in first.text
    assert 'up{job="t"} 1\n' in first.text
    assert "scrapes_total 2\n" in second.text
    assert missing.status_code == 404
    assert head.status_code == 200
    assert head.content == b""
    assert posted.status_code == 405


async def test_a_client_that_sends_nothing_does_not_block_others() -> None:
    server = MetricsServer(0, collectors=[lambda: [Metric("up", "gauge", "Up.", [({}, 1)])]])
    async with serving(server) as url:
        _, idle = await asyncio.open_connection("127.0.0.1", server.port)
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(f"{url}/metrics")
        idle.close()
        with contextlib.suppress(ConnectionError):
            await idle.wait_closed()
    assert answer.status_code == 200


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_special_values(value: float) -> None:
    text = render([Metric("g", "gauge", "G.", [({}, value)])]).decode()
    assert text.endswith(("g NaN\n", "g +Inf\n"))
