"""The fail-safe alarm path at the poller: lost answers, prompt re-reads, refused blocks.

Exception answers come from pyModbusTCP, a Modbus server not built on pymodbus.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyModbusTCP.constants import (
    EXP_DATA_ADDRESS,
    EXP_GATEWAY_PATH_UNAVAILABLE,
    EXP_GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND,
    EXP_SLAVE_DEVICE_BUSY,
    EXP_SLAVE_DEVICE_FAILURE,
)

from fireroom.clock import SimulatedClock
from fireroom.config import Site, parse_site
from fireroom.domain import Quality
from gateway.drivers.modbus_tcp import ModbusTcpDriver, make_client
from gateway.failsafe import LOST_CAP_SECONDS, RetryPolicy, retry_policy
from gateway.planner import plan_device
from gateway.poller import DevicePoller, DeviceStatus, Scan
from tests.gateway.pmtcp import PANEL_PROFILE, ScriptedHandler, run_pmtcp
from tests.servers import listen_ports
from tests.services.helpers import wait_for

FIRE = 0b10


class Sink:
    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self.statuses: list[DeviceStatus] = []

    def scan(self, scan: Scan) -> None:
        self.scans.append(scan)

    def status(self, device: str, status: DeviceStatus) -> None:
        self.statuses.append(status)


class RecordingClock(SimulatedClock):
    """Simulated time that passes by itself; remembers every sleep."""

    def __init__(self) -> None:
        super().__init__(auto_advance=True)
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


def panel_site(tmp_path: Path, port: int, *, profile: str = "pm-panel",
               poll_interval: float = 0.5, rules: dict[str, object] | None = None) -> Site:
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "pm-panel.yaml").write_text(PANEL_PROFILE, encoding="utf-8")
    # The same registers without roles: a device the rules hold no fire alarm for.
    plain = PANEL_PROFILE.replace("name: pm-panel", "name: pm-plain").replace(
        "role: facp_system", "label: system").replace("role: facp_point, ", "")
    (profiles / "pm-plain.yaml").write_text(plain, encoding="utf-8")
    return parse_site({
        "site": {"id": "failsafe"},
        "profile_dirs": [str(profiles)],
        "rules": rules or {},
        "devices": [{
            "id": "panel", "profile": profile, "poll_interval": poll_interval, "timeout": 0.5,
            "max_gap": 0, "transport": {"type": "tcp", "host": "127.0.0.1", "port": port},
        }],
    })


def poller(site: Site, clock: SimulatedClock, sink: Sink) -> DevicePoller:
    device = site.device("panel")
    driver = ModbusTcpDriver(device, client=make_client(device))
    return DevicePoller(device, plan_device(site, device), driver, sink, clock=clock,
                        rng=random.Random(3), policy=retry_policy(site, device))


def qualities(scan: Scan) -> dict[str, Quality]:
    return {r.point: r.quality for r in scan.readings}


@pytest.fixture
def handler() -> ScriptedHandler:
    return ScriptedHandler({0: 1, 5: 62, 10: 1, 12: 1})


@pytest.fixture
def pmtcp(handler: ScriptedHandler) -> Iterator[int]:
    with run_pmtcp(handler) as port:
        yield port


@pytest.mark.parametrize(("code", "words"), [
    (EXP_GATEWAY_PATH_UNAVAILABLE, "gateway path unavailable (exception 10)"),
    (EXP_GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND,
     "gateway target device failed to respond (exception 11)"),
])
async def test_serial_gateway_exceptions_mean_the_device_is_lost(
    tmp_path: Path, handler: ScriptedHandler, pmtcp: int, code: int, words: str
) -> None:
    sink = Sink()
    p = poller(panel_site(tmp_path, pmtcp), SimulatedClock(), sink)
    first = await p.scan()
    handler.set(fail_all=code)
    lost = await p.scan()
    handler.set(fail_all=None)
    back = await p.scan()
    p.driver.close()
    assert set(qualities(first).values()) == {Quality.GOOD}
    assert not lost.ok
    points = ("system_status", "pressure", "P0001", "P0002")
    assert {r.point: (r.value, r.quality) for r in lost.readings} == dict.fromkeys(
        points, (None, Quality.COMM_LOST))
    assert [(s.state, s.reason) for s in sink.statuses] == [
        ("online", ""), ("offline", words), ("online", "")]
    assert back.ok
    assert set(qualities(back).values()) == {Quality.GOOD}
    assert p.stats.failed_scans == 1


async def test_device_failure_spoils_only_its_block(
    tmp_path: Path, handler: ScriptedHandler, pmtcp: int
) -> None:
    sink = Sink()
    p = poller(panel_site(tmp_path, pmtcp), SimulatedClock(), sink)
    handler.set(refuse={10: EXP_SLAVE_DEVICE_FAILURE})
    scan = await p.scan()
    p.driver.close()
    assert scan.ok
    assert qualities(scan) == {"system_status": Quality.GOOD, "pressure": Quality.GOOD,
                               "P0001": Quality.BAD, "P0002": Quality.GOOD}
    assert [s.state for s in sink.statuses] == ["online"]


def test_retry_policy_is_prompt_only_for_fire_alarm_devices(tmp_path: Path) -> None:
    fire = panel_site(tmp_path, 1, rules={"comm_loss": {"intervals": 3, "cap_seconds": 100}})
    plain = panel_site(tmp_path, 1, profile="pm-plain")
    policy = retry_policy(fire, fire.device("panel"))
    assert policy.fire_points == {"system_status", "P0001", "P0002"}
    assert policy.comm_loss_window == 1.5
    assert (policy.lost_cap, policy.busy_cap) == (2.0, 2.0)
    assert policy.reprobe(["pressure"]) == 0.75  # half the comm-loss window
    assert policy.reprobe(["P0001"]) == 0.75
    other = retry_policy(plain, plain.device("panel"))
    assert (other.lost_cap, other.busy_cap) == (LOST_CAP_SECONDS, 15.0)
    slow = RetryPolicy(poll_interval=5.0, fire_points=frozenset({"x"}), comm_loss_window=900)
    assert (slow.lost_cap, slow.busy_cap) == (5.0, 5.0)
    assert slow.reprobe(["x"]) == 5.0
    assert slow.reprobe(["y"]) == 450.0


async def run_for(p: DevicePoller, clock: SimulatedClock, seconds: float) -> None:
    task = asyncio.create_task(p.run())
    try:
        await wait_for(lambda: clock.monotonic() >= seconds, within=20, interval=0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(("profile", "longest"), [("pm-panel", 2.0), ("pm-plain", 30 * 1.2)])
async def test_lost_fire_panel_is_retried_at_least_every_two_seconds(
    tmp_path: Path, profile: str, longest: float
) -> None:
    # A port nothing listens on: every connection attempt is refused at once, for real.
    site = panel_site(tmp_path, listen_ports(1)[0], profile=profile)
    clock = RecordingClock()
    sink = Sink()
    p = poller(site, clock, sink)
    await run_for(p, clock, 120)
    waits = clock.sleeps
    assert len(waits) >= 6
    assert max(waits) <= longest
    if profile == "pm-panel":
        assert sum(waits) / len(waits) > 1.0  # still a backoff, not a hammering
    else:
        assert max(waits) > 2.0 * 1.2  # devices without fire points keep the gentle backoff
    assert all(not scan.ok for scan in sink.scans)


async def test_busy_fire_panel_is_retried_promptly_and_reads_bad_meanwhile(
    tmp_path: Path, handler: ScriptedHandler, pmtcp: int
) -> None:
    # Poll 0.1 s: the gentle busy backoff would reach 30 intervals, 3 s (3.6 s with jitter).
    site = panel_site(tmp_path, pmtcp, poll_interval=0.1)
    clock = RecordingClock()
    sink = Sink()
    p = poller(site, clock, sink)
    handler.set(fail_all=EXP_SLAVE_DEVICE_BUSY)
    task = asyncio.create_task(p.run())
    try:
        await wait_for(lambda: len(sink.scans) >= 8, within=20, interval=0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert max(clock.sleeps) <= 2.0
    assert clock.sleeps[-1] > 1.2  # it did back off
    # Busy is not lost, and every scan says every point is unreadable: no good in between.
    assert [s.state for s in sink.statuses] == ["online"]
    for scan in sink.scans:
        assert scan.ok
        assert set(qualities(scan).values()) == {Quality.BAD}


async def test_refused_fire_block_is_asked_again_promptly(
    tmp_path: Path, handler: ScriptedHandler, pmtcp: int
) -> None:
    site = panel_site(tmp_path, pmtcp, poll_interval=0.5,
                      rules={"comm_loss": {"intervals": 60, "cap_seconds": 100}})
    clock = SimulatedClock()
    sink = Sink()
    p = poller(site, clock, sink)
    handler.set(refuse={10: EXP_DATA_ADDRESS, 5: EXP_DATA_ADDRESS})
    first = await p.scan()
    handler.set(refuse={}, holding={0: 1, 5: 62, 10: FIRE, 12: 1})
    clock.advance(1.9)
    early = await p.scan()
    clock.advance(0.1)  # 2 s after the refusal: the fire block is asked again
    fire = await p.scan()
    clock.advance(13.0)  # 15 s, half the 30 s comm-loss window: the other block too
    late = await p.scan()
    p.driver.close()
    assert qualities(first)["P0001"] is Quality.BAD
    assert qualities(early)["P0001"] is Quality.BAD
    readings = {r.point: (r.value, r.quality) for r in fire.readings}
    assert readings["P0001"] == (["fire"], Quality.GOOD)
    assert readings["pressure"] == (None, Quality.BAD)
    assert qualities(late)["pressure"] is Quality.GOOD
