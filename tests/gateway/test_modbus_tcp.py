"""Driver and poller against real servers: a pymodbus simulator and misbehaving raw servers."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import ExcCodes

from fireroom.config import Site
from fireroom.domain import Quality
from fireroom.errors import DeviceError, DeviceException, DeviceGarbage, DeviceTimeout
from gateway.drivers.modbus_tcp import ModbusTcpDriver, make_client
from gateway.planner import plan
from gateway.poller import DevicePoller, DeviceStatus, Scan
from tests.gateway.modbus import EXPECTED, POINTS, Misbehaviour, make_site, raw_server, sim_server
from tests.gateway.modbus import write_profile as _write_profile
from tests.servers import free_port


class ListSink:
    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self.statuses: list[tuple[str, DeviceStatus]] = []

    def scan(self, scan: Scan) -> None:
        self.scans.append(scan)

    def status(self, device: str, status: DeviceStatus) -> None:
        self.statuses.append((device, status))


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    return _write_profile(tmp_path / "profiles")


def poller(site: Site, device_id: str = "unit-1") -> tuple[DevicePoller, ListSink]:
    device = site.device(device_id)
    requests = plan(site.points[device_id])
    sink = ListSink()
    driver = ModbusTcpDriver(device, client=make_client(device))
    return DevicePoller(device, requests, driver, sink, rng=random.Random(1)), sink


def values(scan: Scan) -> dict[str, object]:
    return {r.point: r.value for r in scan.readings}


def qualities(scan: Scan) -> dict[str, Quality]:
    return {r.point: r.quality for r in scan.readings}


async def test_scan_decodes_every_table(profiles: Path) -> None:
    port = free_port()
    site = make_site("drv-ok", profiles, {"unit-1": port})
    p, sink = poller(site)
    assert [str(r) for r in p.requests] == [
        "FC3 holding[0:+3]", "FC3 holding[4:+2]", "FC3 holding[10:+3]",
        "FC4 input[0:+1]", "FC1 coil[0:+1]", "FC2 discrete[0:+2]"]
    async with sim_server(port):
        scan = await p.scan()
    p.driver.close()
    assert scan.ok
    assert values(scan) == pytest.approx(EXPECTED)
    assert set(qualities(scan).values()) == {Quality.GOOD}
    assert [status.state for _, status in sink.statuses] == ["online"]
    assert p.stats.requests == 6
    assert p.stats.last_good is not None
    assert p.stats.rtt_percentile(0.5) is not None


async def test_driver_uses_the_given_client_and_unit(profiles: Path) -> None:
    port = free_port()
    site = make_site("drv-client", profiles, {"unit-1": port})
    device = site.device("unit-1")
    client = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
    driver = ModbusTcpDriver(device, client=client)
    assert driver.client is client
    (first, *_) = plan(site.points["unit-1"])
    async with sim_server(port):
        assert list(await driver.read(first)) == [1, 1, 62]
        assert driver.connected
    driver.close()


async def test_exception_response_spoils_only_its_block(profiles: Path) -> None:
    port = free_port()
    site = make_site("drv-exc", profiles, {"unit-1": port})
    p, _ = poller(site)
    failures = {(3, 10): ExcCodes.ILLEGAL_VALUE, (4, 0): ExcCodes.ILLEGAL_ADDRESS}
    async with sim_server(port, failures=failures):
        scan = await p.scan()
        with pytest.raises(DeviceException) as caught:
            await p.driver.read(p.requests[2])
    p.driver.close()
    assert caught.value.code == 3
    assert scan.ok
    q = qualities(scan)
    assert {name for name, quality in q.items() if quality is Quality.BAD} == {
        "temperature", "power", "main_pressure"}
    assert values(scan)["temperature"] is None
    assert values(scan)["pressure"] == pytest.approx(0.62)
    assert p.stats.errors["exception"] == 2
    assert p.status is not None
    assert p.status.state == "online"


async def test_nothing_listening_is_comm_lost(profiles: Path) -> None:
    site = make_site("drv-dead", profiles, {"unit-1": free_port()})
    p, sink = poller(site)
    scan = await p.scan()
    assert not scan.ok
    assert values(scan) == dict.fromkeys(POINTS)
    assert set(qualities(scan).values()) == {Quality.COMM_LOST}
    assert p.stats.errors["connection"] == 1
    (device, status), = sink.statuses
    assert (device, status.state) == ("unit-1", "offline")
    assert status.reason == "connection refused or unreachable"


@pytest.mark.parametrize(
    ("mode", "error", "kind"),
    [
        ("wrong_function", DeviceGarbage, "garbage"),
        ("short_count", DeviceGarbage, "garbage"),
        ("truncated", DeviceTimeout, "timeout"),
        ("silent", DeviceTimeout, "timeout"),
        ("undecodable", DeviceError, "connection"),
    ],
)
async def test_misbehaving_server_never_yields_good_values(
    profiles: Path, mode: Misbehaviour, error: type[DeviceError], kind: str
) -> None:
    async with raw_server(mode) as port:
        site = make_site(f"drv-{mode}", profiles, {"unit-1": port}, timeout=0.2)
        p, sink = poller(site)
        with pytest.raises(error):
            await p.driver.read(p.requests[0])
        p.driver.close()
        scans = [await p.scan() for _ in range(3)]
    p.driver.close()
    for scan in scans:
        assert Quality.GOOD not in qualities(scan).values()
        assert all(value is None for value in values(scan).values())
        assert set(qualities(scan).values()) <= {Quality.BAD, Quality.COMM_LOST}
    assert p.stats.errors[kind] >= 3  # type: ignore[index]
    assert p.stats.last_good is None
    if kind == "garbage":
        assert all(scan.ok for scan in scans)  # it answers: online, but every block is bad
    else:
        assert not any(scan.ok for scan in scans)
        assert [s.state for _, s in sink.statuses] == ["offline"]  # logged and sent once
