"""The gateway against hostile devices: a hostile proxy in front of a real pymodbus simulator.

For every misbehaviour: the right error counter moves, the readings it spoils are never `good`,
no `good` reading ever differs from the simulator's true value, the poller keeps running, and
once the device behaves again the gateway is back to good readings within a few scans.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import orjson
import pytest

from fireroom import topics
from fireroom.config import MqttConfig
from fireroom.domain import Quality, Reading
from fireroom.telemetry import Telemetry, decode
from gateway import Gateway
from gateway.drivers.modbus_tcp import ModbusTcpDriver
from gateway.planner import plan
from gateway.poller import DevicePoller, DeviceStatus, Scan
from gateway.stats import ErrorKind
from simulators.clock import FastClock
from simulators.hostile import MIXED, HostileProxy
from tests.gateway.modbus import EXPECTED, make_site, sim_server, write_profile
from tests.servers import Broker, free_port

pytestmark = pytest.mark.timeout(90)

TIMEOUT = 0.2  # the device timeout; `late` answers come later than this
SPEED = 50.0  # poll intervals and reconnect backoff pass this much faster than real time
BIT_POINTS = {"start_command", "door_open", "on_emergency_supply"}  # coil and discrete inputs


def is_true(reading: Reading) -> bool:
    """Whether a reading carries the simulator's value (which never changes in these tests)."""
    return bool(reading.value == pytest.approx(EXPECTED[reading.point]))


def all_good(readings: list[Reading]) -> bool:
    return all(reading.quality is Quality.GOOD for reading in readings)


async def until(condition: Callable[[], bool], polls: int = 2000) -> None:
    """Wait, in bounded steps, until `condition` holds."""
    for _ in range(polls):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


class Watch:
    """Every scan and status of one poller; a good reading with a false value is kept aside."""

    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self.states: list[str] = []
        self.false_good: list[tuple[int, Reading]] = []

    def scan(self, scan: Scan) -> None:
        self.scans.append(scan)
        for reading in scan.readings:
            if reading.quality is Quality.GOOD and not is_true(reading):
                self.false_good.append((scan.seq, reading))

    def status(self, device: str, status: DeviceStatus) -> None:
        self.states.append(status.state)


@dataclass
class Rig:
    proxy: HostileProxy
    poller: DevicePoller
    watch: Watch
    task: asyncio.Task[None]

    def errors(self, kinds: tuple[ErrorKind, ...]) -> int:
        return sum(self.poller.stats.errors[kind] for kind in kinds)


@contextlib.asynccontextmanager
async def hostile_device(profiles: Path, *, seed: int = 7) -> AsyncIterator[Rig]:
    """A polled device behind a proxy; poll interval 1 s on a clock `SPEED` times faster."""
    port = free_port()
    async with sim_server(port), HostileProxy(upstream_port=port, seed=seed) as proxy:
        site = make_site(f"hostile-{proxy.port}", profiles, {"unit-1": proxy.port},
                         poll_interval=1.0, timeout=TIMEOUT)
        device = site.device("unit-1")
        watch = Watch()
        poller = DevicePoller(device, plan(site.points["unit-1"]), ModbusTcpDriver(device), watch,
                              clock=FastClock(SPEED), rng=random.Random(3))
        task = asyncio.create_task(poller.run(), name="gateway[unit-1].poll")
        try:
            yield Rig(proxy, poller, watch, task)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass(frozen=True)
class Case:
    mode: str
    options: dict[str, object] = field(default_factory=dict)
    kinds: tuple[ErrorKind, ...] = ("garbage",)  # the counters that must move
    offline: bool | None = None  # whether the device goes offline (None: either)
    spared: frozenset[str] = frozenset()  # points the misbehaviour cannot touch

    def __str__(self) -> str:
        options = ",".join(f"{key}={value}" for key, value in self.options.items())
        return f"{self.mode}[{options}]" if options else self.mode


CASES = [
    Case("late", {"delay": 1.0}, ("timeout",), offline=True),
    # pymodbus skips an answer for another transaction and keeps waiting.
    Case("wrong_tid", {}, ("timeout",), offline=True),
    # pymodbus takes transaction id 0 for "any"; the driver does not.
    Case("wrong_tid", {"tid": 0}, ("garbage",), offline=False),
    Case("wrong_function", {}, ("garbage",), offline=False),
    Case("short", {}, ("timeout",), offline=True),
    # A register answer whose byte count outruns its data cannot be decoded: pymodbus drops the
    # connection. A bit answer one byte short decodes to too few bits.
    Case("short", {"cut": "pdu"}, ("connection",), offline=True),
    # pymodbus ignores the byte count of coil and discrete answers, whose data is intact here.
    Case("wrong_byte_count", {}, ("connection",), offline=True, spared=frozenset(BIT_POINTS)),
    Case("wrong_byte_count", {"offset": -2}, ("garbage",), offline=False,
         spared=frozenset(BIT_POINTS)),
    Case("drop_mid_frame", {}, ("connection",), offline=True),
    Case("garbage", {}, ("garbage", "connection")),
    Case("garbage", {"scope": "frame"}, ("timeout",), offline=True),
    Case("flap", {"down": 0.6, "up": 0.6}, ("connection",), offline=True),
]


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    return write_profile(tmp_path / "profiles")


async def misbehave(rig: Rig, case: Case, *, at_least: int = 3) -> tuple[int, int]:
    """Healthy first, then `case` until its counters moved and `at_least` scans passed, then
    normal.

    Returns the indexes of the first and last scans wholly inside the hostile phase.
    """
    await until(lambda: any(all_good(scan.readings) for scan in rig.watch.scans))
    before = rig.errors(case.kinds)
    start = len(rig.watch.scans)
    rig.proxy.behave(case.mode, **case.options)  # type: ignore[arg-type]
    await until(lambda: rig.errors(case.kinds) >= before + at_least
                and len(rig.watch.scans) >= start + at_least + 1)
    assert not rig.task.done(), "the poller stopped"
    stop = len(rig.watch.scans)
    rig.proxy.behave("normal")
    # The scan under way at each switch may be part good, part hostile: leave both out.
    return start + 1, stop - 1


async def recovered_within(rig: Rig, stop: int) -> int:
    """How many scans after the hostile phase the first wholly good one came."""
    await until(lambda: any(all_good(scan.readings) for scan in rig.watch.scans[stop + 1:]))
    after = rig.watch.scans[stop + 1:]
    return next(index for index, scan in enumerate(after) if all_good(scan.readings))


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_misbehaviour_is_counted_never_good_and_recovers(
    profiles: Path, case: Case
) -> None:
    async with hostile_device(profiles) as rig:
        first, last = await misbehave(rig, case)
        later = await recovered_within(rig, last)
        assert not rig.task.done(), "the poller stopped"
        state = rig.poller.status.state if rig.poller.status else None
    assert rig.watch.false_good == []
    assert later <= 2
    assert state == "online"
    hostile = rig.watch.scans[first : last + 1]
    assert hostile
    spoiled = [reading for scan in hostile for reading in scan.readings]
    if case.mode == "flap":
        # Up phases serve true values; down phases lose the whole device.
        assert all(all_good(scan.readings) or not scan.ok for scan in hostile)
        assert any(not scan.ok for scan in hostile)
    else:
        touched = [reading for reading in spoiled if reading.point not in case.spared]
        assert all(reading.quality is not Quality.GOOD for reading in touched)
    assert all(reading.value is None for reading in spoiled if reading.quality is not Quality.GOOD)
    if case.offline is not None:
        assert ("offline" in rig.watch.states) is case.offline
    assert rig.watch.states[-1] == "online"
    counts = rig.proxy.counts
    if case.mode == "flap":
        assert counts.refused + counts.dropped >= 3
    else:
        assert counts.mangled[case.mode] >= 3


async def test_a_seeded_mix_of_every_misbehaviour(profiles: Path) -> None:
    async with hostile_device(profiles, seed=2024) as rig:
        counts = rig.proxy.counts
        await until(lambda: any(all_good(scan.readings) for scan in rig.watch.scans))
        start = len(rig.watch.scans)
        before = counts.requests
        rig.proxy.behave("mix", probability=0.3, delay=0.5, down=0.3)
        await until(lambda: counts.requests >= before + 200, polls=6000)
        assert not rig.task.done(), "the poller stopped"
        stop = len(rig.watch.scans)
        rig.proxy.behave("normal")
        later = await recovered_within(rig, stop - 1)
        errors = dict(rig.poller.stats.errors)
    assert rig.watch.false_good == []
    assert set(counts.mangled) == set(MIXED)
    assert errors["timeout"] > 0
    assert errors["garbage"] > 0
    assert errors["connection"] > 0
    assert later <= 2
    hostile = rig.watch.scans[start + 1 : stop - 1]
    readings = [reading for scan in hostile for reading in scan.readings]
    assert all(reading.value is None for reading in readings if reading.quality is not Quality.GOOD)
    # Good answers came through between the bad ones, and each was true (false_good above).
    assert any(reading.quality is Quality.GOOD for reading in readings)
    assert any(reading.quality is Quality.BAD for reading in readings)
    assert any(reading.quality is Quality.COMM_LOST for reading in readings)


class Inbox:
    """Every telemetry message of one site, as a real subscriber receives them."""

    def __init__(self) -> None:
        self.telemetry: list[Telemetry] = []
        self.states: list[str] = []


@contextlib.asynccontextmanager
async def subscribed(broker: Broker, site: str) -> AsyncIterator[Inbox]:
    inbox = Inbox()
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topics.telemetry(site, "unit-1"))
        await client.subscribe(topics.status(site, "unit-1"))

        async def receive() -> None:
            async for message in client.messages:
                payload = bytes(message.payload)
                if str(message.topic) == topics.telemetry(site, "unit-1"):
                    inbox.telemetry.append(decode(payload))
                elif payload:
                    inbox.states.append(orjson.loads(payload)["state"])

        task = asyncio.create_task(receive(), name="test-subscriber")
        try:
            yield inbox
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.mark.integration
@pytest.mark.parametrize("case", [CASES[3], CASES[0], CASES[8]], ids=str)
async def test_gateway_publishes_no_garbage_as_good(
    mosquitto: Broker, profiles: Path, case: Case
) -> None:
    port = free_port()
    async with sim_server(port), HostileProxy(upstream_port=port, seed=1) as proxy:
        site = make_site(f"gw-hostile-{case.mode}", profiles, {"unit-1": proxy.port},
                         poll_interval=1.0, timeout=TIMEOUT)
        gateway = Gateway(site, MqttConfig(host=mosquitto.host, port=mosquitto.port),
                          clock=FastClock(SPEED / 5), rng=random.Random(5))
        async with subscribed(mosquitto, site.id) as inbox:
            run = asyncio.create_task(gateway.run(), name="test-gateway")
            try:
                await until(lambda: any(all_good(t.readings) for t in inbox.telemetry))
                errors = gateway.pollers["unit-1"].stats.errors
                before = sum(errors[kind] for kind in case.kinds)
                start = len(inbox.telemetry)
                start_scan = gateway.stats()["unit-1"]["scans"]
                proxy.behave(case.mode, **case.options)  # type: ignore[arg-type]
                await until(lambda: sum(errors[kind] for kind in case.kinds) >= before + 3
                            and gateway.stats()["unit-1"]["scans"] >= start_scan + 4)
                # Each scan is published; wait for the hostile ones to arrive.
                scans = gateway.stats()["unit-1"]["scans"]
                await until(lambda: max(t.seq for t in inbox.telemetry) >= scans)
                assert not run.done(), "the gateway stopped"
                stop = len(inbox.telemetry)
                proxy.behave("normal")
                await until(lambda: any(all_good(t.readings) for t in inbox.telemetry[stop:]))
                assert not run.done(), "the gateway stopped"
                stats = gateway.stats()["unit-1"]
            finally:
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run
    published = inbox.telemetry
    for message in published:
        for reading in message.readings:
            assert reading.quality is not Quality.GOOD or is_true(reading), (message.seq, reading)
            assert reading.quality is Quality.GOOD or reading.value is None
    hostile = published[start + 1 : stop - 1]
    assert hostile
    assert all(reading.quality is not Quality.GOOD for t in hostile for reading in t.readings)
    after = published[stop:]
    assert next(i for i, t in enumerate(after) if all_good(t.readings)) <= 2
    assert stats["state"] == "online"
    assert sum(stats["errors"][kind] for kind in case.kinds) >= 3
    if case.offline:
        assert inbox.states[-2:] == ["offline", "online"]
    else:
        assert "offline" not in inbox.states
