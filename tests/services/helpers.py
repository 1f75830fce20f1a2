"""Small sites, telemetry builders and a fake clock for the services tests."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from fireroom.config import Site, parse_site
from fireroom.domain import PointValue, Quality, Reading
from fireroom.telemetry import Telemetry

_seq = itertools.count()


class FakeClock:
    """Time that moves only when told to."""

    def __init__(self, start: float = 1_764_000_000.0) -> None:
        self.wall = start
        self.mono = 1000.0

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def site_data(
    site_id: str = "test-site", poll_interval: float = 1.0, **rules: Any
) -> dict[str, Any]:
    tcp = {"type": "tcp", "host": "127.0.0.1", "port": 1502}
    return {
        "site": {"id": site_id},
        "devices": [
            {
                "id": "facp-1",
                "profile": "gbt26875-panel",
                "transport": tcp,
                "poll_interval": poll_interval,
                "points": [
                    {"name": "L1-SD001", "index": 0, "label": "smoke 1, zone 1"},
                    {"name": "L1-SD002", "index": 1, "label": "smoke 2, zone 1"},
                ],
            },
            {
                "id": "pump-1",
                "profile": "electric-pump-controller",
                "transport": tcp,
                "poll_interval": poll_interval,
            },
            {
                "id": "ai-1",
                "profile": "ai-4-20ma-8ch",
                "transport": tcp,
                "poll_interval": poll_interval,
                "points": [
                    {
                        "name": "main_pressure",
                        "index": 0,
                        "role": "pressure",
                        "transmitter": {"low": 0.0, "high": 1.6, "unit": "MPa"},
                    },
                    {
                        "name": "riser_pressure",
                        "index": 1,
                        "role": "pressure",
                        "low_limit": 0.10,
                        "transmitter": {"low": 0.0, "high": 1.6, "unit": "MPa"},
                    },
                    {
                        "name": "tank_level",
                        "index": 2,
                        "role": "level",
                        "transmitter": {"low": 0.0, "high": 5.0, "unit": "m"},
                    },
                ],
            },
        ],
        "rules": {"low_pressure": {"threshold": 0.30, "hold_seconds": 5, "hysteresis": 0.02}}
        | rules,
    }


def make_site(site_id: str = "test-site", poll_interval: float = 1.0, **rules: Any) -> Site:
    return parse_site(site_data(site_id, poll_interval, **rules))


def good(value: PointValue) -> tuple[PointValue, Quality]:
    return (value, Quality.GOOD)


def telemetry(
    site: str,
    device: str,
    ts: float = 0.0,
    /,
    **readings: Any,
) -> Telemetry:
    """Readings given as a value are good; as (value, quality) they carry that quality."""
    items = []
    for name, item in readings.items():
        if isinstance(item, tuple):
            items.append(Reading(name, item[0], item[1]))
        else:
            items.append(Reading(name, item, Quality.GOOD))
    return Telemetry(site, device, ts, next(_seq), items)


NORMAL_FACP: dict[str, PointValue] = {
    "system_status": ["normal"],
    "fire_count": 0,
    "fault_count": 0,
    "L1-SD001": ["normal"],
    "L1-SD002": ["normal"],
}
NORMAL_PUMP: dict[str, PointValue] = {
    "running": False,
    "mode": "auto",
    "alarms": [],
    "alarms_2": [],
    "discharge_pressure": 0.62,
}
NORMAL_AI: dict[str, PointValue] = {
    "main_pressure": 0.62,
    "riser_pressure": 0.41,
    "tank_level": 3.2,
    "module_status": [],
}


async def wait_for(
    predicate: Callable[[], Any], within: float = 10.0, interval: float = 0.02
) -> Any:
    """Poll until `predicate()` is truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(interval)
