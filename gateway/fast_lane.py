"""A device's fast lane: a few alarm points read between its scans (`devices[].fast_lane`).

A panel of 2,000 detectors takes many requests to scan; its system status word read on its own
every 0.25 s puts a fire on the board long before the next scan would. The fast lane shares the
device's driver, so its requests take turns with the scan's on the one connection.

Only good readings that differ from what was last published for their point go out: the scans
keep saying the device answers, and exception answers, garbage and refused blocks are the
scans' to report. A timeout or a lost connection is not: the device is lost (the poller's).
"""

from __future__ import annotations

from collections.abc import Iterable

from fireroom.config import DeviceConfig, Site
from fireroom.domain import Reading
from fireroom.errors import ConfigError, ConfigProblem, DeviceException, DeviceGarbage
from gateway.drivers import Driver
from gateway.failsafe import LOST_CODES
from gateway.planner import ReadRequest, plan
from gateway.stats import DeviceStats

__all__ = ["FastLane", "plan_fast_lane"]


class FastLane:
    """The fast lane of one device: its requests and what it last read and published.

    Args:
        requests: reads of the fast-lane points only (`plan_fast_lane`).
        interval: seconds between the starts of two rounds of reads.
    """

    def __init__(self, requests: list[ReadRequest], interval: float) -> None:
        self.requests = requests
        self.interval = interval
        self.points = frozenset(name for request in requests for name in request.points)
        self.generation = 0  # counts good answers, so a scan can tell it was overtaken
        self._latest: dict[str, Reading] = {}
        self._published: dict[str, Reading] = {}

    async def read(self, driver: Driver, stats: DeviceStats) -> list[Reading]:
        """Read every fast request once; the good readings that changed since last published.

        Raises `DeviceError` when the device is lost: a timeout, a lost connection, or a serial
        gateway's exception 10 or 11 (`DeviceException`).
        """
        changed: list[Reading] = []
        for request in self.requests:
            stats.requests += 1
            try:
                words = await driver.read(request)
            except DeviceException as exc:
                if exc.code in LOST_CODES:
                    raise
                stats.errors["exception"] += 1
                continue
            except DeviceGarbage:
                stats.errors["garbage"] += 1
                continue
            self.generation += 1
            for reading in request.decode(words):
                self._latest[reading.point] = reading
                if self._published.get(reading.point) != reading:
                    changed.append(reading)
        return changed

    def overlay(self, readings: Iterable[Reading]) -> list[Reading]:
        """`readings` with the fast-lane points at their latest good reading."""
        latest = self._latest
        return [latest.get(reading.point, reading) for reading in readings]

    def published_with(self, readings: Iterable[Reading]) -> None:
        """Note what a message just published said of the fast-lane points."""
        points = self.points
        for reading in readings:
            if reading.point in points:
                self._published[reading.point] = reading


def plan_fast_lane(site: Site, device: DeviceConfig, index: int) -> list[ReadRequest]:
    """The reads of `device`'s fast-lane points; `index` is its place in `devices`.

    Raises:
        ConfigError: a fast-lane point the device does not have, naming its path.
    """
    lane = device.fast_lane
    if lane is None:
        return []
    points = {point.name: point for point in site.points.get(device.id, [])}
    problems = [
        ConfigProblem(f"devices[{index}].fast_lane.points[{j}]", f"no point {name!r} in the device")
        for j, name in enumerate(lane.points)
        if name not in points
    ]
    if problems:
        raise ConfigError(site.source, problems)
    # No gaps: the fast lane reads as few registers as it can, as often as it does.
    return plan(
        [points[name] for name in dict.fromkeys(lane.points)],
        max_registers=device.max_registers,
        max_bits=device.max_bits,
    )
