"""Gap merging and the two exception codes with their own handling, on a real pymodbus server.

"Illegal data address" (2) splits a merged request or sets its block aside, the rest of the
device keeps flowing; "busy" (6) ends the scan and backs off that device only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from pathlib import Path

import pytest

from fireroom.clock import SimulatedClock, SystemClock
from fireroom.config import Site
from fireroom.domain import Quality
from gateway.drivers.modbus_tcp import ModbusTcpDriver, make_client
from gateway.planner import plan
from gateway.poller import REPROBE_SECONDS, DevicePoller, DeviceStatus, Scan
from tests.gateway.modbus import EXPECTED, make_site, sim_server
from tests.gateway.modbus import write_profile as _write_profile
from tests.servers import free_port


class ListSink:
    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self.statuses: list[DeviceStatus] = []
        self.changed = asyncio.Event()

    def scan(self, scan: Scan) -> None:
        self.scans.append(scan)
        self.changed.set()

    def status(self, device: str, status: DeviceStatus) -> None:
        self.statuses.append(status)


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    return _write_profile(tmp_path / "profiles")


def gap_poller(site: Site, clock: SimulatedClock) -> tuple[DevicePoller, ListSink]:
    device = site.device("unit-1")
    requests = plan(site.points["unit-1"], max_gap=8, max_bit_gap=64)
    sink = ListSink()
    driver = ModbusTcpDriver(device, client=make_client(device))
    return DevicePoller(device, requests, driver, sink, clock=clock, rng=random.Random(1)), sink


def by_point(scan: Scan) -> dict[str, tuple[object, Quality]]:
    return {r.point: (r.value, r.quality) for r in scan.readings}


async def test_gap_merged_read_answers_every_point(profiles: Path) -> None:
    port = free_port()
    site = make_site("gap-ok", profiles, {"unit-1": port})
    p, _ = gap_poller(site, SimulatedClock())
    # Holding 0..12 in one read across the unmapped 3 and 6..9; then input, coil, discrete.
    assert [str(r) for r in p.requests] == [
        "FC3 holding[0:+13]", "FC4 input[0:+1]", "FC1 coil[0:+1]", "FC2 discrete[0:+2]"]
    async with sim_server(port):
        scan = await p.scan()
    p.driver.close()
    assert {name: value for name, (value, _) in by_point(scan).items()} == pytest.approx(EXPECTED)
    assert {quality for _, quality in by_point(scan).values()} == {Quality.GOOD}


async def test_refused_gap_splits_the_read_and_loses_nothing(profiles: Path) -> None:
    port = free_port()
    site = make_site("gap-split", profiles, {"unit-1": port})
    p, _ = gap_poller(site, SimulatedClock())
    async with sim_server(port) as server:
        server.refused = {(3, 3), (3, 7)}  # unmapped registers inside the merged holding read
        first = await p.scan()
        asked_first = list(server.asked)
        server.asked.clear()
        second = await p.scan()
    p.driver.close()
    # The refused merge is split and its parts read in the same scan: every value arrives.
    assert {name: value for name, (value, _) in by_point(first).items()} == pytest.approx(EXPECTED)
    assert {quality for _, quality in by_point(first).values()} == {Quality.GOOD}
    assert asked_first[:4] == [(3, 0, 13), (3, 0, 3), (3, 4, 2), (3, 10, 3)]
    # From then on the parts are read directly: no more refused requests.
    assert server.asked[:3] == [(3, 0, 3), (3, 4, 2), (3, 10, 3)]
    assert by_point(second) == by_point(first)
    assert p.stats.errors["exception"] == 1
    assert p.stats.refused_blocks == 0


async def test_refused_block_is_reported_skipped_and_reprobed(
    profiles: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    site = make_site("gap-skip", profiles, {"unit-1": port})
    clock = SimulatedClock()
    p, _ = gap_poller(site, clock)
    async with sim_server(port) as server:
        server.refused = {(3, 11)}  # inside the block of `power`, a mapped point
        first = await p.scan()
        server.asked.clear()
        second = await p.scan()
        asked_second = list(server.asked)
        clock.advance(REPROBE_SECONDS)
        server.refused = set()  # new firmware: the block answers again
        server.asked.clear()
        third = await p.scan()
        asked_third = list(server.asked)
    p.driver.close()
    for scan in (first, second):
        readings = by_point(scan)
        assert readings["temperature"] == (None, Quality.BAD)
        assert readings["power"] == (None, Quality.BAD)
        # The rest of the device keeps flowing.
        assert readings["pressure"] == (pytest.approx(0.62), Quality.GOOD)
        assert readings["main_pressure"][1] is Quality.GOOD
        assert readings["door_open"] == (EXPECTED["door_open"], Quality.GOOD)
    assert p.status is not None
    assert p.status.state == "online"
    # The refused block is not asked again until the re-probe time.
    assert (3, 10, 3) not in asked_second
    assert asked_second[:2] == [(3, 0, 3), (3, 4, 2)]
    assert (3, 10, 3) in asked_third
    assert by_point(third)["power"][1] is Quality.GOOD
    assert p.stats.refused_blocks == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("FC3 holding[10:+3] refused (illegal address)" in m and "temperature, power" in m
               for m in warnings)


async def test_busy_device_backs_off_alone(profiles: Path) -> None:
    ports = {"unit-1": free_port(), "unit-2": free_port()}
    site = make_site("busy", profiles, ports)
    clock = SystemClock()
    sinks: dict[str, ListSink] = {}
    pollers: dict[str, DevicePoller] = {}
    for device_id in ports:
        device = site.device(device_id)
        sinks[device_id] = ListSink()
        driver = ModbusTcpDriver(device, client=make_client(device))
        pollers[device_id] = DevicePoller(
            device, plan(site.points[device_id]), driver, sinks[device_id], clock=clock,
            rng=random.Random(2),
        )
    async with sim_server(ports["unit-1"]) as busy, sim_server(ports["unit-2"]) as calm:
        busy.busy = 4  # four "busy" answers in a row
        tasks = [asyncio.create_task(p.run()) for p in pollers.values()]
        try:
            async with asyncio.timeout(20):
                while len(sinks["unit-1"].scans) < 6:
                    sinks["unit-1"].changed.clear()
                    await sinks["unit-1"].changed.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    first, *_, last = sinks["unit-1"].scans
    # A busy answer ends the scan: nothing after it is read, nothing is published as good.
    assert {quality for _, quality in by_point(first).values()} == {Quality.BAD}
    assert all(scan.ok for scan in sinks["unit-1"].scans)
    assert [s.state for s in sinks["unit-1"].statuses] == ["online"]  # busy is not lost
    assert {quality for _, quality in by_point(last).values()} == {Quality.GOOD}
    assert pollers["unit-1"].stats.errors["busy"] == 4
    # Scans of the busy device spread out (backoff from one poll interval, doubling, ±20%) ...
    interval = site.device("unit-1").poll_interval
    starts = [scan.ts for scan in sinks["unit-1"].scans[:5]]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    for attempt, gap in enumerate(gaps):
        assert gap >= 0.8 * interval * 2**attempt
    # ... while the other device kept its own rhythm all along.
    calm_scans = sinks["unit-2"].scans
    assert pollers["unit-2"].stats.errors["busy"] == 0
    during = [scan for scan in calm_scans if starts[0] < scan.ts < starts[4]]
    assert len(during) >= 3  # the backoff lasted at least 1.2 s of 0.1 s polls
    assert {q for scan in calm_scans for _, q in by_point(scan).values()} == {Quality.GOOD}
    assert calm.requests >= 8 * len(pollers["unit-2"].requests)
