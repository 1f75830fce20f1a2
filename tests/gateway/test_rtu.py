"""Modbus RTU lines against real parts: socat pty pairs, pymodbus RTU servers, Mosquitto.

Three 4-20 mA modules share one line (unit ids 1, 2 and 247), served by the simulator on the
other end of a pty pair or as RTU frames over TCP, and read by the gateway's real drivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import struct
import tty
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from pymodbus.framer import FramerRTU

from fireroom import topics
from fireroom.config import MqttConfig, Site, load_site, parse_site
from fireroom.domain import Quality
from fireroom.errors import DeviceError, DeviceTimeout
from fireroom.telemetry import Telemetry, decode
from gateway import Gateway
from gateway.connections import Connections
from gateway.metrics import MetricsServer
from gateway.planner import plan
from gateway.poller import DevicePoller, DeviceStatus, Scan
from simulators.rtu import Frame
from simulators.runtime import SiteSimulator
from tests.servers import Broker, free_port, run_socat_pty_pair

pytestmark = pytest.mark.timeout(60)

UNITS = {"ai-1": 1, "ai-2": 2, "ai-3": 247}
MILLIAMPS = {"ai-1": 8.0, "ai-2": 12.0, "ai-3": 16.0}
PRESSURE = {"ai-1": 0.4, "ai-2": 0.8, "ai-3": 1.2}  # MPa: 0-1.6 MPa over 4-20 mA
GAP = 0.03  # s of inter-frame delay, far above what a pty or loopback takes
TIMEOUT = 0.5


@pytest.fixture(autouse=True)
def _quiet_pymodbus(caplog: pytest.LogCaptureFixture) -> None:
    # pymodbus logs every unanswered request and dropped frame at ERROR: expected here.
    caplog.set_level(logging.CRITICAL, logger="pymodbus")


@dataclass
class Wire:
    """How the gateway reaches a line, and where the simulator serves it."""

    line: dict[str, Any]
    serial_ports: dict[str, str]


def serial_wire(gateway_end: Path, simulator_end: Path) -> Wire:
    return Wire({"type": "serial", "port": str(gateway_end), "baudrate": 19200},
                {"bus-1": str(simulator_end)})


def tcp_wire(port: int | None = None) -> Wire:
    return Wire({"type": "rtu-over-tcp", "host": "127.0.0.1", "port": port or free_port()}, {})


@pytest.fixture(params=["serial", "rtu-over-tcp"])
def wire(request: pytest.FixtureRequest) -> Wire:
    if request.param == "serial":
        return serial_wire(*request.getfixturevalue("pty_pair"))
    return tcp_wire()


def rtu_site(site_id: str, wire: Wire, *, poll_interval: float = 0.1) -> Site:
    return parse_site({
        "site": {"id": site_id},
        "lines": [{"id": "bus-1", "inter_frame_delay": GAP, "timeout": TIMEOUT, **wire.line}],
        "devices": [
            {"id": device, "profile": "ai-4-20ma-8ch", "unit_id": unit,
             "transport": {"type": "rtu", "line": "bus-1"}, "poll_interval": poll_interval,
             "points": [{"name": "pressure", "index": 0,
                         "transmitter": {"low": 0.0, "high": 1.6, "unit": "MPa"}}]}
            for device, unit in UNITS.items()
        ],
    })


@contextlib.asynccontextmanager
async def simulating(site: Site, wire: Wire) -> AsyncIterator[SiteSimulator]:
    async with SiteSimulator(site, serial_ports=wire.serial_ports) as sim:
        for device, milliamps in MILLIAMPS.items():
            sim.device(device).set("pressure", milliamps, hold=True)
        yield sim


class ListSink:
    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self.statuses: list[DeviceStatus] = []

    def scan(self, scan: Scan) -> None:
        self.scans.append(scan)

    def status(self, device: str, status: DeviceStatus) -> None:
        self.statuses.append(status)

    def good(self) -> list[Scan]:
        return [s for s in self.scans if all(r.quality is Quality.GOOD for r in s.readings)]

    @property
    def state(self) -> str:
        return self.statuses[-1].state if self.statuses else "unknown"


@dataclass
class Polled:
    poller: DevicePoller
    sink: ListSink


@contextlib.asynccontextmanager
async def polling(site: Site, connections: Connections) -> AsyncIterator[dict[str, Polled]]:
    """A real `DevicePoller` per device, each with the real driver `Connections` builds."""
    polled: dict[str, Polled] = {}
    for device in site.config.devices:
        sink = ListSink()
        poller = DevicePoller(device, plan(site.points[device.id]), connections.driver(device),
                              sink, rng=random.Random(1))
        polled[device.id] = Polled(poller, sink)
    tasks = [asyncio.create_task(p.poller.run(), name=f"test[{device}].poll")
             for device, p in polled.items()]
    try:
        yield polled
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.02)


def pressure(scan: Scan) -> object:
    return next(r.value for r in scan.readings if r.point == "pressure")


def exchanges(frames: list[Frame]) -> Iterator[tuple[Frame, Frame | None]]:
    """Each request with the answer that follows it, if any."""
    for index, frame in enumerate(frames):
        if frame.kind == "request":
            after = frames[index + 1] if index + 1 < len(frames) else None
            yield frame, after if after is not None and after.kind == "answer" else None


async def test_units_take_turns_on_the_line_with_the_frame_gap(wire: Wire) -> None:
    site = rtu_site(f"rtu-turns-{wire.line['type']}", wire)
    connections = Connections(site)
    async with simulating(site, wire) as sim:
        async with polling(site, connections) as polled:
            await until(lambda: all(len(p.sink.good()) >= 5 for p in polled.values()))
        frames = list(sim.line("bus-1").frames)
    for device, p in polled.items():
        assert p.sink.state == "online"
        assert all(pressure(scan) == pytest.approx(PRESSURE[device]) for scan in p.sink.scans)
    # The simulator saw one request at a time: each answered before the next came.
    pairs = list(exchanges(frames))
    assert len(pairs) >= 30
    for request, answer in pairs[:-1]:
        assert answer is not None, request
        assert (answer.unit, answer.function_code) == (request.unit, request.function_code)
    assert {request.unit for request, _ in pairs} == set(UNITS.values())
    # And the line kept quiet for the gap between an answer and the next request.
    gaps = [b.at - a.at for a, b in itertools.pairwise(frames)
            if a.kind == "answer" and b.kind == "request"]
    assert min(gaps) >= GAP
    line = connections.lines["bus-1"]
    assert not line.connected  # the pollers stopped and gave the line back
    assert line.stats.requests >= len(pairs)
    assert line.stats.errors == {"timeout": 0, "exception": 0, "garbage": 0, "connection": 0}


async def test_silent_unit_goes_offline_while_its_neighbours_keep_reading(wire: Wire) -> None:
    site = rtu_site(f"rtu-silent-{wire.line['type']}", wire)
    connections = Connections(site)
    async with simulating(site, wire) as sim, polling(site, connections) as polled:
        await until(lambda: all(p.sink.state == "online" for p in polled.values()))
        silent, others = polled["ai-2"].sink, [polled["ai-1"].sink, polled["ai-3"].sink]
        sim.fault("ai-2").silence()
        await until(lambda: silent.state == "offline")
        counts = [len(sink.good()) for sink in others]
        await until(lambda: all(len(sink.good()) >= count + 5
                                for sink, count in zip(others, counts, strict=True)))
        assert silent.state == "offline"
        lost = silent.scans[-1]
        sim.fault("ai-2").answer()
        await until(lambda: silent.state == "online")
        line = connections.lines["bus-1"]
        report = connections.stats()["bus-1"]
        connected = line.connected
    assert connected
    assert not lost.ok
    assert {(r.value, r.quality) for r in lost.readings} == {(None, Quality.COMM_LOST)}
    assert pressure(silent.scans[-1]) == pytest.approx(PRESSURE["ai-2"])
    for device in ("ai-1", "ai-3"):
        sink = polled[device].sink
        assert [status.state for status in sink.statuses] == ["online"]
        assert all(pressure(scan) == pytest.approx(PRESSURE[device]) for scan in sink.scans)
    # One unit's timeouts never closed the line under the others.
    assert report["errors"]["timeout"] >= 1
    assert report["errors"]["connection"] == 0
    assert report["reconnects"] == 0


async def test_late_answer_of_a_unit_is_never_taken_for_another_units(wire: Wire) -> None:
    site = rtu_site(f"rtu-late-{wire.line['type']}", wire)
    connections = Connections(site)
    drivers = {d.id: connections.driver(d) for d in site.config.devices}
    (channel, _) = plan(site.points["ai-1"])
    microamps = {device: round(milliamps * 1000) for device, milliamps in MILLIAMPS.items()}
    async with simulating(site, wire) as sim:
        line = sim.line("bus-1")
        # Late by far more than the wait after a timeout: it comes while the others are asked.
        sim.fault("ai-2").delay_by(1.0)
        with pytest.raises(DeviceTimeout):
            await drivers["ai-2"].read(channel)
        late = False
        for device in itertools.islice(itertools.cycle(["ai-1", "ai-3"]), 400):
            late = any(f.kind == "answer" and f.unit == UNITS["ai-2"] for f in line.frames)
            if late:
                break
            with contextlib.suppress(DeviceTimeout):  # both answers in one read: both dropped
                assert list(await drivers[device].read(channel)) == [microamps[device]]
        sim.fault("ai-2").answer()
        assert list(await drivers["ai-2"].read(channel)) == [microamps["ai-2"]]
        assert list(await drivers["ai-3"].read(channel)) == [microamps["ai-3"]]
    connections.close()
    assert late


async def test_closing_one_driver_leaves_the_line_open_for_the_others(
    pty_pair: tuple[Path, Path],
) -> None:
    wire = serial_wire(*pty_pair)
    site = rtu_site("rtu-close", wire)
    connections = Connections(site)
    drivers = {d.id: connections.driver(d) for d in site.config.devices}
    (channel, _) = plan(site.points["ai-1"])
    line = connections.line("bus-1")
    async with simulating(site, wire):
        for driver in drivers.values():
            await driver.read(channel)
        drivers["ai-1"].close()
        assert line.connected
        assert list(await drivers["ai-2"].read(channel)) == [12000]
        drivers["ai-2"].close()
        drivers["ai-3"].close()
        assert not line.connected  # the last one to let go closes the port
        await drivers["ai-1"].connect()
        assert drivers["ai-3"].connected
        assert list(await drivers["ai-3"].read(channel)) == [16000]
        assert line.stats.reconnects == 1
        connections.close()
        assert not line.connected


async def test_lost_port_fails_the_asking_device_and_the_line_reopens(tmp_path: Path) -> None:
    directory = tmp_path / "pty"
    with run_socat_pty_pair(directory) as ends:
        wire = serial_wire(*ends)
        site = rtu_site("rtu-lost", wire)
        connections = Connections(site)
        drivers = {d.id: connections.driver(d) for d in site.config.devices}
        (channel, _) = plan(site.points["ai-1"])
        async with simulating(site, wire) as sim:
            assert list(await drivers["ai-1"].read(channel)) == [8000]
            sim.fault("ai-2").silence()
            asking = asyncio.create_task(drivers["ai-2"].read(channel))
            await until(lambda: len(sim.line("bus-1").frames) == 3)  # its request is out
    # The port is gone (socat stopped) while unit 2 is being asked.
    with pytest.raises(DeviceError) as lost:
        await asking
    assert type(lost.value) is DeviceError
    assert "serial line lost" in str(lost.value)
    with pytest.raises(DeviceError, match="cannot open serial"):
        await drivers["ai-3"].read(channel)
    with run_socat_pty_pair(directory) as ends:
        async with simulating(site, serial_wire(*ends)):
            assert list(await drivers["ai-3"].read(channel)) == [16000]
            assert list(await drivers["ai-2"].read(channel)) == [12000]
    report = connections.stats()["bus-1"]
    connections.close()
    assert report["reconnects"] == 1
    assert report["errors"]["connection"] == 2
    assert report["errors"]["timeout"] == 0


async def test_lost_serial_server_connection_reconnects() -> None:
    wire = tcp_wire()
    site = rtu_site("rtu-tcp-lost", wire)
    connections = Connections(site)
    drivers = {d.id: connections.driver(d) for d in site.config.devices}
    (channel, _) = plan(site.points["ai-1"])
    async with simulating(site, wire) as sim:
        assert list(await drivers["ai-1"].read(channel)) == [8000]
        sim.fault("ai-2").silence()
        asking = asyncio.create_task(drivers["ai-2"].read(channel))
        await until(lambda: len(sim.line("bus-1").frames) == 3)
    with pytest.raises(DeviceError, match="rtu-over-tcp line lost"):
        await asking
    with pytest.raises(DeviceError, match="cannot open rtu-over-tcp"):
        await drivers["ai-3"].read(channel)
    async with simulating(site, wire):
        assert list(await drivers["ai-3"].read(channel)) == [16000]
    report = connections.stats()["bus-1"]
    connections.close()
    assert report["reconnects"] == 1
    assert report["errors"]["connection"] == 2


async def test_settings_the_port_refuses_are_a_device_error(pty_pair: tuple[Path, Path]) -> None:
    # A pty takes no parity: as a serial adapter refuses a speed it cannot make.
    wire = serial_wire(*pty_pair)
    wire.line["parity"] = "E"
    site = rtu_site("rtu-parity", wire)
    connections = Connections(site)
    driver = connections.driver(site.device("ai-1"))
    (channel, _) = plan(site.points["ai-1"])
    with pytest.raises(DeviceError, match=r"cannot open serial .* 19200 8E1"):
        await driver.read(channel)
    driver.close()
    assert connections.stats()["bus-1"]["errors"]["connection"] == 1


async def test_line_statistics_and_prometheus_metrics(pty_pair: tuple[Path, Path]) -> None:
    wire = serial_wire(*pty_pair)
    site = rtu_site("rtu-metrics", wire)
    connections = Connections(site)
    metrics = MetricsServer(0, collectors=[connections.metrics])
    serving = asyncio.create_task(metrics.serve())
    try:
        async with simulating(site, wire) as sim, polling(site, connections) as polled:
            sim.fault("ai-2").silence()
            sim.fault("ai-3").fail_with(4)
            await until(lambda: polled["ai-2"].sink.state == "offline"
                        and len(polled["ai-1"].sink.good()) >= 3
                        and len(polled["ai-3"].sink.scans) >= 3)
            await metrics.serving.wait()
            async with httpx.AsyncClient() as client:
                answer = await client.get(f"http://127.0.0.1:{metrics.port}/metrics")
            report = connections.stats()["bus-1"]
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    assert report["type"] == "serial"
    assert report["devices"] == 3
    assert report["requests"] >= 8
    assert report["errors"]["timeout"] >= 1
    assert report["errors"]["exception"] >= 3
    assert report["rtt_p50"] is not None
    assert report["rtt_p99"] is not None
    assert 0 < report["rtt_p50"] <= report["rtt_p99"]
    assert report["busy_ratio"] is not None
    assert 0 < report["busy_ratio"] <= 1
    assert report["busy_seconds"] > 0
    text = answer.text
    assert answer.status_code == 200
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert int(samples['fireroom_line_requests_total{line="bus-1"}']) >= report["requests"]
    assert int(samples['fireroom_line_errors_total{line="bus-1",kind="timeout"}']) >= 1
    assert int(samples['fireroom_line_errors_total{line="bus-1",kind="garbage"}']) == 0
    assert float(samples['fireroom_line_rtt_seconds{line="bus-1",quantile="0.99"}']) > 0
    assert 0 < float(samples['fireroom_line_busy_ratio{line="bus-1"}']) <= 1
    assert float(samples['fireroom_line_busy_seconds_total{line="bus-1"}']) > 0
    assert samples['fireroom_line_reconnects_total{line="bus-1"}'] == "0"
    assert samples['fireroom_line_connected{line="bus-1"}'] == "1"
    assert samples['fireroom_line_devices{line="bus-1"}'] == "3"
    assert "# TYPE fireroom_line_requests_total counter" in text


def _with_crc(frame: bytes) -> bytes:
    return frame + FramerRTU.compute_CRC(frame).to_bytes(2, "big")


@dataclass(frozen=True)
class Reply:
    """How a `ScriptedUnit` answers one read.

    `kind`: good, bad_crc (a good answer with its last byte flipped), wrong_function, short
    (no registers), exception (code 4), other_unit (a good answer from the next unit id).
    `after`: seconds before the answer goes out. `value`: every register asked reads this.
    """

    kind: str = "good"
    after: float = 0.0
    value: int | None = None


class ScriptedUnit:
    """A raw RTU slave on a serial port: each read gets the next `Reply` (then good ones)."""

    def __init__(self, port: Path, script: list[Reply], registers: dict[int, int]) -> None:
        self.script = list(script)
        self.registers = registers
        self.requests: list[bytes] = []
        self._buffer = b""
        self._later: list[asyncio.TimerHandle] = []
        self._loop = asyncio.get_running_loop()
        self._fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self._fd)
        self._loop.add_reader(self._fd, self._readable)

    def close(self) -> None:
        for handle in self._later:
            handle.cancel()
        self._loop.remove_reader(self._fd)
        os.close(self._fd)

    def _readable(self) -> None:
        self._buffer += os.read(self._fd, 256)
        while len(self._buffer) >= 8:  # a read request is 8 bytes
            request, self._buffer = self._buffer[:8], self._buffer[8:]
            self.requests.append(request)
            reply = self.script.pop(0) if self.script else Reply()
            answer = self._answer(request, reply)
            if reply.after:
                self._later.append(self._loop.call_later(reply.after, os.write, self._fd, answer))
            else:
                os.write(self._fd, answer)

    def _answer(self, request: bytes, reply: Reply) -> bytes:
        unit, function = request[0], request[1]
        address, count = struct.unpack(">HH", request[2:6])
        words = [self.registers.get(address + i, 0) if reply.value is None else reply.value
                 for i in range(count)]
        data = bytes([2 * count]) + struct.pack(f">{count}H", *words)
        if reply.kind == "wrong_function":
            return _with_crc(bytes([unit, 3 if function == 4 else 4]) + data)
        if reply.kind == "short":
            return _with_crc(bytes([unit, function, 0]))
        if reply.kind == "exception":
            return _with_crc(bytes([unit, function | 0x80, 4]))
        if reply.kind == "other_unit":
            return _with_crc(bytes([unit + 1, function]) + data)
        good = _with_crc(bytes([unit, function]) + data)
        if reply.kind == "bad_crc":
            return good[:-1] + bytes([good[-1] ^ 0xFF])
        return good


def one_unit_site(site_id: str, port: Path, **line: Any) -> Site:
    return parse_site({
        "site": {"id": site_id},
        "lines": [{"id": "bus-1", "type": "serial", "port": str(port), "timeout": TIMEOUT,
                   **line}],
        "devices": [{"id": "ai-1", "profile": "ai-4-20ma-8ch", "unit_id": 1,
                     "transport": {"type": "rtu", "line": "bus-1"},
                     "points": [{"name": "pressure", "index": 0,
                                 "transmitter": {"low": 0.0, "high": 1.6, "unit": "MPa"}}]}],
    })


async def test_broken_answers_are_bad_blocks_and_the_next_answer_is_good(
    pty_pair: tuple[Path, Path],
) -> None:
    gateway_end, device_end = pty_pair
    site = one_unit_site("rtu-garbage", gateway_end, inter_frame_delay=0.005)
    connections = Connections(site)
    device = site.device("ai-1")
    requests = plan(site.points["ai-1"])
    assert [str(r) for r in requests] == ["FC4 input[0:+1]", "FC4 input[20:+2]"]
    # The first read of each scan gets these; the second read is answered well. A scan that
    # times out on its first read sends no second one.
    firsts = ["bad_crc", "good", "wrong_function", "short", "exception", "other_unit", "good"]
    script = [Reply(kind) for first in firsts
              for kind in ([first] if first == "other_unit" else [first, "good"])]
    driver = connections.driver(device)
    poller = DevicePoller(device, requests, driver, ListSink(), rng=random.Random(1))
    unit = ScriptedUnit(device_end, script, {0: 8000, 20: 0, 21: 315})
    try:
        scans = [await poller.scan() for _ in firsts]
    finally:
        unit.close()
        driver.close()
    for first, scan in zip(firsts, scans, strict=True):
        readings = {r.point: r for r in scan.readings}
        if first == "other_unit":
            # An answer from another unit id is never taken for ours: the read times out.
            assert not scan.ok
            assert {r.quality for r in scan.readings} == {Quality.COMM_LOST}
            continue
        assert scan.ok, first
        assert readings["module_temperature"].value == pytest.approx(31.5)
        assert readings["module_temperature"].quality is Quality.GOOD
        if first == "good":
            assert readings["pressure"].value == pytest.approx(0.4)
            assert readings["pressure"].quality is Quality.GOOD
        else:
            assert readings["pressure"].value is None, first
            assert readings["pressure"].quality is Quality.BAD, first
    assert len(unit.requests) == len(script)
    assert poller.stats.errors["garbage"] == 3
    assert poller.stats.errors["exception"] == 1
    assert poller.stats.errors["timeout"] == 1
    line = connections.stats()["bus-1"]["errors"]
    assert line == {"timeout": 1, "exception": 1, "garbage": 3, "connection": 0}


async def test_late_answer_is_thrown_away_after_a_timeout(pty_pair: tuple[Path, Path]) -> None:
    gateway_end, device_end = pty_pair
    # At 4800 Bd the longest frame takes 0.53 s: that long the line listens for a late answer.
    site = one_unit_site("rtu-late-same", gateway_end, baudrate=4800, inter_frame_delay=0.01)
    connections = Connections(site)
    driver = connections.driver(site.device("ai-1"))
    (channel, _) = plan(site.points["ai-1"])
    # The first answer comes 0.2 s after the timeout; the next read's answer takes 0.4 s. Were
    # the next request sent at once, the stale first answer would arrive while it waits.
    script = [Reply(after=TIMEOUT + 0.2, value=1111), Reply(after=0.4, value=2222)]
    unit = ScriptedUnit(device_end, script, {})
    try:
        with pytest.raises(DeviceTimeout):
            await driver.read(channel)
        assert list(await driver.read(channel)) == [2222]
    finally:
        unit.close()
        driver.close()
    assert len(unit.requests) == 2


async def telemetry_until_good(
    broker: Broker, site: Site, devices: set[str], within: float = 20.0
) -> dict[str, Telemetry]:
    """The first all-good telemetry message of each device."""
    found: dict[str, Telemetry] = {}
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topics.telemetry_filter(site.id))
        async with asyncio.timeout(within):
            async for message in client.messages:
                telemetry = decode(bytes(message.payload))
                if all(r.quality is Quality.GOOD for r in telemetry.readings):
                    found.setdefault(telemetry.device, telemetry)
                if set(found) >= devices:
                    break
    return found


SITE_YAML = """\
site: {{id: {site}}}
lines:
  - {{id: riser, type: serial, port: "{gateway_end}", baudrate: 9600, inter_frame_delay: 0.01,
     timeout: 0.5}}
  - {{id: annex, type: rtu-over-tcp, host: 127.0.0.1, port: {port}, timeout: 0.5}}
devices:
  - {{id: riser-ai-1, profile: ai-4-20ma-8ch, unit_id: 1, transport: {{type: rtu, line: riser}},
     poll_interval: 0.2, points: [{{name: pressure, index: 0,
     transmitter: {{low: 0.0, high: 1.6, unit: MPa}}}}]}}
  - {{id: riser-ai-2, profile: ai-4-20ma-8ch, unit_id: 2, transport: {{type: rtu, line: riser}},
     poll_interval: 0.2, points: [{{name: pressure, index: 0,
     transmitter: {{low: 0.0, high: 1.6, unit: MPa}}}}]}}
  - {{id: annex-pump, profile: electric-pump-controller, unit_id: 3,
     transport: {{type: rtu, line: annex}}, poll_interval: 0.2}}
  - {{id: annex-ai, profile: ai-4-20ma-8ch, unit_id: 4, transport: {{type: rtu, line: annex}},
     poll_interval: 0.2, points: [{{name: pressure, index: 0,
     transmitter: {{low: 0.0, high: 1.6, unit: MPa}}}}]}}
"""


@pytest.mark.integration
async def test_gateway_publishes_telemetry_of_rtu_devices(
    mosquitto: Broker, pty_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    gateway_end, simulator_end = pty_pair
    path = tmp_path / "site.yaml"
    path.write_text(SITE_YAML.format(site="gw-rtu", gateway_end=gateway_end, port=free_port()),
                    encoding="utf-8")
    site = load_site(path)
    gateway = Gateway(site, MqttConfig(host=mosquitto.host, port=mosquitto.port),
                      rng=random.Random(3))
    assert set(gateway.pollers) == {"riser-ai-1", "riser-ai-2", "annex-pump", "annex-ai"}
    async with SiteSimulator(site, serial_ports={"riser": str(simulator_end)}) as sim:
        sim.device("riser-ai-1").set("pressure", 8.0, hold=True)
        sim.device("riser-ai-2").set("pressure", 12.0, hold=True)
        sim.device("annex-ai").set("pressure", 16.0, hold=True)
        running = asyncio.create_task(gateway.run(), name="test-gateway")
        try:
            found = await telemetry_until_good(mosquitto, site, set(gateway.pollers))
            stats = gateway.connections.stats()
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    values = {device: {r.point: r.value for r in t.readings} for device, t in found.items()}
    assert values["riser-ai-1"]["pressure"] == pytest.approx(0.4)
    assert values["riser-ai-2"]["pressure"] == pytest.approx(0.8)
    assert values["annex-ai"]["pressure"] == pytest.approx(1.2)
    assert values["annex-pump"]["mode"] == "auto"
    assert {line: report["devices"] for line, report in stats.items()} == {"riser": 2, "annex": 2}
    assert all(report["requests"] > 0 for report in stats.values())
    # Stopping the gateway stops its pollers, which give their lines back: both are closed.
    assert not any(line.connected for line in gateway.connections.lines.values())
