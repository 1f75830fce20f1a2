"""Shared by the InfluxDB tests: readings to feed the sink and a look into a real InfluxDB."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx

from fireroom.config import Site
from fireroom.domain import PointValue, Quality, Reading
from fireroom.points import PointSpec
from gateway.poller import Scan


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def reading_for(spec: PointSpec, step: int) -> Reading:
    """A plausible good reading of the point; numbers move with `step`."""
    value: PointValue
    if spec.flags:
        value = [spec.flags[min(spec.flags)]]
    elif spec.enum:
        value = spec.enum[max(spec.enum)]
    elif spec.type.value in ("bit", "coil", "discrete"):
        value = step % 2 == 0
    else:
        value = round(0.5 + (step % 10) / 100, 3)
    raw = 12.0 if spec.transmitter is not None else None
    return Reading(spec.name, value, Quality.GOOD, raw)


def scans_of(site: Site, device: str, count: int, start: float, step: float = 1.0) -> list[Scan]:
    """`count` scans of every point of `device`, `step` seconds apart from `start`."""
    specs = site.points[device]
    return [
        Scan(device, start + i * step, i + 1, [reading_for(spec, i) for spec in specs], ok=True)
        for i in range(count)
    ]


def query(url: str, database: str, statement: str) -> list[list[object]]:
    answer = httpx.post(f"{url}/query", params={"db": database}, data={"q": statement},
                        timeout=30)
    answer.raise_for_status()
    result = answer.json()["results"][0]
    if "error" in result:
        raise AssertionError(result["error"])
    series = result.get("series") or []
    return [row for item in series for row in item["values"]]


def create_database(url: str, database: str) -> None:
    httpx.post(f"{url}/query", data={"q": f'CREATE DATABASE "{database}"'},
               timeout=30).raise_for_status()


def count_points(url: str, database: str, where: str = "") -> int:
    rows = query(url, database, f"SELECT count(quality) FROM reading {where}")
    return int(rows[0][1]) if rows else 0  # type: ignore[call-overload]


async def eventually(check: Callable[[], bool], within: float, interval: float = 0.1) -> bool:
    """Polls `check` until it holds or `within` seconds pass; the caller asserts."""
    deadline = time.monotonic() + within
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)
