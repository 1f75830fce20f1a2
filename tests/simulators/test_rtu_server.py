"""The simulated RTU line against a real pymodbus master, on a socat pty pair and over TCP."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerType

from fireroom.config import Site, parse_site
from simulators.errors import SimulatorError
from simulators.runtime import SiteSimulator
from simulators.scenario import Action, Step
from tests.servers import free_port

pytestmark = pytest.mark.timeout(30)

UNITS = {"ai-1": 1, "ai-2": 2, "ai-3": 7}


def rtu_site(site_id: str, line: dict[str, Any]) -> Site:
    """Three 4-20 mA modules on one RTU line, a transmitter on channel 0 of each."""
    return parse_site({
        "site": {"id": site_id},
        "lines": [{"id": "bus-1", **line}],
        "devices": [
            {"id": device, "profile": "ai-4-20ma-8ch", "unit_id": unit,
             "transport": {"type": "rtu", "line": "bus-1"},
             "points": [{"name": "pressure", "index": 0,
                         "transmitter": {"low": 0.0, "high": 1.6, "unit": "MPa"}}]}
            for device, unit in UNITS.items()
        ],
    })


def set_currents(sim: SiteSimulator) -> dict[int, int]:
    """Give each module its own current; returns unit id -> register value (µA)."""
    expected = {}
    for index, (device, unit) in enumerate(UNITS.items()):
        sim.device(device).set("pressure", 8.0 + 4 * index, hold=True)
        expected[unit] = 8000 + 4000 * index
    return expected


async def test_units_on_a_serial_line_answer_from_their_own_images(
    pty_pair: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="pymodbus")
    master_end, simulator_end = pty_pair
    site = rtu_site("sim-rtu-serial", {"type": "serial", "port": str(master_end)})
    master = AsyncModbusSerialClient(str(master_end), framer=FramerType.RTU, baudrate=9600,
                                     timeout=0.3, retries=0, reconnect_delay=0)
    async with SiteSimulator(site, serial_ports={"bus-1": str(simulator_end)}) as sim:
        expected = set_currents(sim)
        assert await master.connect()
        try:
            for unit, value in expected.items():
                reply = await master.read_input_registers(0, count=1, device_id=unit)
                assert reply.registers == [value]
                assert reply.dev_id == unit
            # A unit id no device has stays silent, as on a real bus.
            with pytest.raises(ModbusIOException):
                await master.read_input_registers(0, count=1, device_id=9)
            illegal = await master.read_holding_registers(0, count=1, device_id=2)
            assert illegal.isError()
            assert illegal.exception_code == 2
        finally:
            master.close()
        frames = [(f.kind, f.unit, f.function_code) for f in sim.line("bus-1").frames]
    assert frames == [
        ("request", 1, 4), ("answer", 1, 4), ("request", 2, 4), ("answer", 2, 4),
        ("request", 7, 4), ("answer", 7, 4), ("request", 9, 4), ("request", 2, 3),
        ("answer", 2, 3),
    ]


async def test_silent_unit_and_a_late_answer_keep_their_own_unit_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="pymodbus")
    port = free_port()
    site = rtu_site("sim-rtu-tcp", {"type": "rtu-over-tcp", "host": "127.0.0.1", "port": port})
    master = AsyncModbusTcpClient("127.0.0.1", port=port, framer=FramerType.RTU, timeout=0.2,
                                  retries=0, reconnect_delay=0)
    async with SiteSimulator(site) as sim:
        expected = set_currents(sim)
        assert await master.connect()
        try:
            sim.apply(Step(at=0, device="ai-2", action=Action.SILENT))
            assert sim.fault("ai-2").silent
            with pytest.raises(ModbusIOException):
                await master.read_input_registers(0, count=1, device_id=2)
            reply = await master.read_input_registers(0, count=1, device_id=7)
            assert reply.registers == [expected[7]]
            sim.apply(Step(at=0, device="ai-2", action=Action.ANSWER))
            # Late by more than the master waits: its answer comes while unit 7 is asked.
            sim.fault("ai-2").delay_by(0.3)
            with pytest.raises(ModbusIOException):
                await master.read_input_registers(0, count=1, device_id=2)
            reply = await master.read_input_registers(0, count=1, device_id=7)
            assert reply.registers == [expected[7]]
            assert reply.dev_id == 7
            line = sim.line("bus-1")
            for _ in range(200):  # the late answer goes out 0.3 s after its request
                if any(f.kind == "answer" and f.unit == 2 for f in line.frames):
                    break
                reply = await master.read_input_registers(0, count=1, device_id=1)
                assert reply.registers == [expected[1]]
                await asyncio.sleep(0.01)
        finally:
            master.close()
    answers = [f.unit for f in line.frames if f.kind == "answer"]
    # pymodbus would stamp the late answer with unit 7 or 1, the latest request's unit id.
    assert answers.count(2) == 1
    assert answers[:2] == [7, 7]


async def test_scenario_steps_reach_rtu_devices_and_tcp_only_calls_say_so() -> None:
    port = free_port()
    site = rtu_site("sim-rtu-steps", {"type": "rtu-over-tcp", "host": "127.0.0.1", "port": port})
    async with SiteSimulator(site) as sim:
        sim.apply(Step(at=0, device="ai-3", action=Action.EXCEPTION, code=4))
        master = AsyncModbusTcpClient("127.0.0.1", port=port, framer=FramerType.RTU,
                                      timeout=0.5, retries=0, reconnect_delay=0)
        assert await master.connect()
        try:
            reply = await master.read_input_registers(0, count=1, device_id=7)
        finally:
            master.close()
        assert reply.isError()
        assert reply.exception_code == 4
        with pytest.raises(SimulatorError, match="no Modbus TCP server"):
            sim.server("ai-3")
        with pytest.raises(SimulatorError, match="no simulated RTU line"):
            sim.line("bus-2")


async def test_serial_port_that_cannot_be_opened_is_reported(tmp_path: Path) -> None:
    site = rtu_site("sim-rtu-noport", {"type": "serial", "port": str(tmp_path / "missing")})
    with pytest.raises(SimulatorError, match="cannot serve"):
        async with SiteSimulator(site):
            pass
