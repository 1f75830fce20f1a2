"""A Prometheus text endpoint: `GET /metrics` on a tiny asyncio HTTP server.

Collectors are plain callables returning `Metric`s, asked at every scrape, so the numbers are
never older than the request. The gateway registers its per-device counters
(`device_metrics(gateway.stats())`) and each InfluxDB writer its buffer and write counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gateway.stats import DeviceReport

__all__ = ["Collector", "Metric", "MetricsServer", "device_metrics", "render"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_READ_TIMEOUT = 5.0  # seconds a client may take to send its request
_MAX_REQUEST = 8192


@dataclass(slots=True)
class Metric:
    """One metric family: a name, a type, a help text and labelled samples."""

    name: str
    kind: Literal["counter", "gauge"]
    help: str
    samples: list[tuple[Mapping[str, str], float]] = field(default_factory=list)

    def add(self, value: float | None, **labels: str) -> None:
        if value is not None:
            self.samples.append((labels, float(value)))


Collector = Callable[[], Iterable[Metric]]


def _label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _number(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render(metrics: Iterable[Metric]) -> bytes:
    """The Prometheus text exposition format (version 0.0.4)."""
    out: list[str] = []
    for metric in metrics:
        out.append(f"# HELP {metric.name} {metric.help}")
        out.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in metric.samples:
            if labels:
                inner = ",".join(f'{key}="{_label(val)}"' for key, val in labels.items())
                out.append(f"{metric.name}{{{inner}}} {_number(value)}")
            else:
                out.append(f"{metric.name} {_number(value)}")
    return ("\n".join(out) + "\n").encode()


def device_metrics(stats: Mapping[str, DeviceReport]) -> list[Metric]:
    """The gateway's per-device counters (`Gateway.stats()`) as metric families."""
    scans = Metric("fireroom_device_scans_total", "counter", "Scans of the device.")
    failed = Metric("fireroom_device_failed_scans_total", "counter",
                    "Scans the device did not answer at all.")
    requests = Metric("fireroom_device_requests_total", "counter", "Read requests sent.")
    errors = Metric("fireroom_device_errors_total", "counter", "Failed requests, by kind.")
    missed = Metric("fireroom_device_missed_ticks_total", "counter",
                    "Poll ticks skipped because a scan overran its interval.")
    refused = Metric("fireroom_device_refused_blocks", "gauge",
                     "Read blocks the device answers 'illegal address' for, skipped for now.")
    rtt = Metric("fireroom_device_rtt_seconds", "gauge",
                 "Round-trip time of recent requests, by quantile.")
    last_good = Metric("fireroom_device_last_good_timestamp_seconds", "gauge",
                       "Unix time of the last answered request.")
    online = Metric("fireroom_device_online", "gauge", "1 when the device answers, else 0.")
    state = Metric("fireroom_device_state", "gauge", "1 for the device's current state.")
    published = Metric("fireroom_device_telemetry_published_total", "counter",
                       "Telemetry messages handed to the MQTT broker.")
    dropped = Metric("fireroom_device_telemetry_dropped_total", "counter",
                     "Telemetry messages lost while the MQTT broker was away or slow.")
    for device, report in sorted(stats.items()):
        scans.add(report["scans"], device=device)
        failed.add(report["failed_scans"], device=device)
        requests.add(report["requests"], device=device)
        for kind, count in sorted(report["errors"].items()):
            errors.add(count, device=device, kind=kind)
        missed.add(report["missed_ticks"], device=device)
        refused.add(report["refused_blocks"], device=device)
        rtt.add(report["rtt_p50"], device=device, quantile="0.5")
        rtt.add(report["rtt_p99"], device=device, quantile="0.99")
        last_good.add(report["last_good"], device=device)
        online.add(1 if report["state"] == "online" else 0, device=device)
        state.add(1, device=device, state=report["state"])
        published.add(report["published"], device=device)
        dropped.add(report["dropped"], device=device)
    return [scans, failed, requests, errors, missed, refused, rtt, last_good, online, state,
            published, dropped]


class MetricsServer:
    """Serves `/metrics` from its collectors until cancelled.

    Args:
        port: TCP port; 0 picks a free one (see `port` once serving).
        host: address to bind; loopback by default, `0.0.0.0` for a scraper on another host.
        collectors: asked in order at every scrape; more can be added with `add`.
    """

    def __init__(
        self, port: int, *, host: str = "127.0.0.1", collectors: Sequence[Collector] = ()
    ) -> None:
        self.host = host
        self.port = port
        self.collectors: list[Collector] = list(collectors)
        self.serving = asyncio.Event()

    def add(self, collector: Collector) -> None:
        self.collectors.append(collector)

    def collect(self) -> list[Metric]:
        metrics: list[Metric] = []
        for collector in self.collectors:
            metrics.extend(collector())
        return metrics

    async def serve(self) -> None:
        server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=_MAX_REQUEST
        )
        async with server:
            self.port = server.sockets[0].getsockname()[1]
            log.info("metrics on http://%s:%d/metrics", self.host, self.port)
            self.serving.set()
            await server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            method, _, rest = head.decode("latin-1").partition(" ")
            path = rest.partition(" ")[0].partition("?")[0]
            if method not in ("GET", "HEAD"):
                await _answer(writer, 405, b"method not allowed\n", "text/plain")
            elif path != "/metrics":
                await _answer(writer, 404, b"not found: try /metrics\n", "text/plain")
            else:
                body = render(self.collect())
                await _answer(writer, 200, b"" if method == "HEAD" else body, CONTENT_TYPE,
                              length=len(body))
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            pass  # a client that hangs up or dawdles gets nothing
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _answer(
    writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str,
    length: int | None = None,
) -> None:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body) if length is None else length}\r\n"
        "connection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()
