"""What `benchmarks.gateway` watches: telemetry on the broker, the gateway's /metrics, and
py-spy's stacks of it."""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import orjson

from fireroom import topics

__all__ = ["Tally", "listen", "percentile", "scrape", "spy_top"]


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None of nothing."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Tally:
    """What arrived on the broker; scans are kept (by `ts`) to count those of the window."""

    devices: set[str] = field(default_factory=set)  # devices that delivered a value
    # (scan ts, arrival - ts, readings with a value, readings without one), in arrival order
    scans: list[tuple[float, float, int, int]] = field(default_factory=list)
    gaps: int = 0  # telemetry messages missing by `seq`
    last_seq: dict[str, int] = field(default_factory=dict)

    def window(self, start: float, end: float) -> list[tuple[float, float, int, int]]:
        return [scan for scan in self.scans if start <= scan[0] < end]


async def listen(port: int, site: str, tally: Tally, ready: asyncio.Event) -> None:
    """Count the site's telemetry into `tally` until cancelled; `ready` once subscribed."""
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier="gateway-bench", max_queued_incoming_messages=0
    ) as client:
        await client.subscribe(topics.telemetry_filter(site))
        ready.set()
        async for message in client.messages:
            payload = message.payload
            assert isinstance(payload, bytes)
            now = time.time()
            scan = orjson.loads(payload)
            readings = scan["readings"].values()
            valued = sum(1 for reading in readings if reading[0] is not None)
            device = scan["device"]
            if valued:
                tally.devices.add(device)
            last = tally.last_seq.get(device)
            if last is not None and scan["seq"] > last + 1:
                tally.gaps += scan["seq"] - last - 1
            tally.last_seq[device] = scan["seq"]
            tally.scans.append((scan["ts"], now - scan["ts"], valued, len(readings) - valued))


async def scrape(port: int) -> dict[str, float]:
    """Sums over devices of the gateway's per-device counters."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nhost: bench\r\n\r\n")
    body = (await reader.read()).decode()
    writer.close()
    sums: dict[str, float] = collections.defaultdict(float)
    for line in body.split("\r\n\r\n", 1)[1].splitlines():
        if line and not line.startswith("#"):
            name_labels, _, value = line.rpartition(" ")
            sums[name_labels.partition("{")[0]] += float(value)
    return sums


def spy_top(raw: Path, limit: int = 25) -> list[tuple[str, float, float]]:
    """(function, own share, inclusive share) of py-spy's collapsed stacks, by own time."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if not samples:
        return []
    return [(frame, n / samples, total[frame] / samples) for frame, n in own.most_common(limit)]
