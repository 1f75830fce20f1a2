from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from fireroom.config import Site
from fireroom.domain import Quality
from gateway.decode import PointDecoder
from simulators.errors import SimulatorError
from simulators.runtime import SiteSimulator
from simulators.scenario import Action, Step, parse_scenario

pytestmark = pytest.mark.timeout(30)


@contextlib.asynccontextmanager
async def client(sim: SiteSimulator, device_id: str) -> AsyncIterator[AsyncModbusTcpClient]:
    server = sim.server(device_id)
    modbus = AsyncModbusTcpClient(server.host, port=server.port, timeout=0.5, retries=0)
    try:
        assert await modbus.connect()
        yield modbus
    finally:
        modbus.close()


async def test_holding_block_of_panel_points_reads_back(loopback_site: Site) -> None:
    async with SiteSimulator(loopback_site) as sim, client(sim, "facp-1") as modbus:
        sim.model.panel("facp-1").set_point_state("L1-SD003", "fire")
        reply = await modbus.read_holding_registers(100, count=66, device_id=1)
        assert not reply.isError()
        specs = {spec.address: spec for spec in loopback_site.points["facp-1"]}
        values = {specs[100 + i].name: PointDecoder(specs[100 + i]).decode([word]).value
                  for i, word in enumerate(reply.registers)}
        assert values["L1-SD003"] == ["fire"]
        assert values["L3-OM002"] == ["normal"]
        system = await modbus.read_holding_registers(0, count=6, device_id=1)
        assert PointDecoder(specs[0]).decode(system.registers[:1]).value == ["fire"]
        assert system.registers[1] == 1  # fire_count
        assert PointDecoder(specs[4]).decode(system.registers[4:6]).value == 1


async def test_addresses_outside_the_profile_are_illegal(loopback_site: Site) -> None:
    async with SiteSimulator(loopback_site) as sim, client(sim, "facp-1") as modbus:
        for reply in (
            await modbus.read_holding_registers(100, count=67, device_id=1),
            await modbus.read_holding_registers(6, count=1, device_id=1),
            await modbus.read_input_registers(0, count=1, device_id=1),
            await modbus.read_coils(0, count=1, device_id=1),
        ):
            assert reply.isError()
            assert reply.exception_code == 2


async def test_pump_registers_coils_and_discrete_inputs(loopback_site: Site) -> None:
    async with SiteSimulator(loopback_site) as sim, client(sim, "pump-1") as modbus:
        device = sim.device("pump-1")
        device.set("door_open", True, hold=True)
        status = await modbus.read_holding_registers(0, count=5, device_id=1)
        assert status.registers[1] == 1  # mode auto
        analogs = await modbus.read_holding_registers(10, count=9, device_id=1)
        assert analogs.registers[7] == pytest.approx(5000, abs=5)  # 50.00 Hz
        assert analogs.registers[1] == pytest.approx(3800, abs=20)  # 380.0 V
        counters = await modbus.read_holding_registers(20, count=6, device_id=1)
        spec = device.spec("starts_total")
        assert PointDecoder(spec).decode(counters.registers[2:4]).value == 61
        inputs = await modbus.read_discrete_inputs(0, count=2, device_id=1)
        assert inputs.bits[:2] == [True, False]
        await modbus.write_coil(0, True, device_id=1)
        assert device.get("remote_start_command") is True
        coils = await modbus.read_coils(0, count=1, device_id=1)
        assert coils.bits[0] is True


async def test_transmitters_read_as_healthy_pressures(loopback_site: Site) -> None:
    async with SiteSimulator(loopback_site) as sim, client(sim, "ai-1") as modbus:
        reply = await modbus.read_input_registers(0, count=3, device_id=1)
        specs = sim.device("ai-1").points
        main = PointDecoder(specs["main_pressure"]).decode(reply.registers[0:1])
        riser = PointDecoder(specs["riser_top_pressure"]).decode(reply.registers[1:2])
        level = PointDecoder(specs["tank_level"]).decode(reply.registers[2:3])
        assert main.quality is Quality.GOOD
        assert isinstance(main.value, float)
        assert 0.50 < main.value < 0.75
        assert isinstance(riser.value, float)
        assert 0.25 < riser.value < 0.50
        assert level.value == pytest.approx(3.2, abs=0.02)


async def test_scenario_step_changes_what_the_client_reads(loopback_site: Site) -> None:
    scenario = parse_scenario({"name": "quick", "duration": 0.6, "steps": [
        {"at": 0.2, "device": "ai-1", "action": "set_milliamps",
         "point": "riser_top_pressure", "value": 2.0},
    ]})
    async with SiteSimulator(loopback_site, scenario) as sim, client(sim, "ai-1") as modbus:
        before = await modbus.read_input_registers(1, count=1, device_id=1)
        assert before.registers[0] > 4000
        async with asyncio.timeout(5):
            await sim.wait_scenario_done()
        after = await modbus.read_input_registers(1, count=1, device_id=1)
        assert after.registers[0] == 2000
        assert [step.index for step in sim.applied] == [0]
        assert sim.applied[0].at >= 0.2
        assert sim.applied[0].wall >= sim.started_at


async def test_silent_device_times_out_and_answer_recovers(
    loopback_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="pymodbus")
    async with SiteSimulator(loopback_site) as sim, client(sim, "pump-1") as modbus:
        sim.apply(Step(at=0, device="pump-1", action=Action.SILENT))
        with pytest.raises(ModbusIOException):
            await modbus.read_holding_registers(0, count=5, device_id=1)
        sim.apply(Step(at=0, device="pump-1", action=Action.ANSWER))
        if not modbus.connected:
            assert await modbus.connect()
        reply = await modbus.read_holding_registers(0, count=5, device_id=1)
        assert not reply.isError()
        assert reply.registers[1] == 1


async def test_silent_device_holds_requests_until_shutdown(
    loopback_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="pymodbus")
    async with SiteSimulator(loopback_site) as sim, client(sim, "jockey-1") as modbus:
        sim.server("jockey-1").silence()
        with pytest.raises(ModbusIOException):
            await modbus.read_holding_registers(0, count=5, device_id=1)
    # leaving the simulator cancels the held request: no pending task, no warning


async def test_exception_step_returns_the_code(loopback_site: Site) -> None:
    async with SiteSimulator(loopback_site) as sim, client(sim, "pump-1") as modbus:
        sim.apply(Step(at=0, device="pump-1", action=Action.EXCEPTION, code=6))
        reply = await modbus.read_holding_registers(0, count=5, device_id=1)
        assert reply.isError()
        assert reply.exception_code == 6
        sim.server("pump-1").answer()
        assert not (await modbus.read_holding_registers(0, count=5, device_id=1)).isError()


async def test_delay_answers_late(loopback_site: Site) -> None:
    async with SiteSimulator(loopback_site) as sim, client(sim, "pump-1") as modbus:
        sim.apply(Step(at=0, device="pump-1", action=Action.DELAY, seconds=0.3))
        loop = asyncio.get_running_loop()
        started = loop.time()
        reply = await modbus.read_holding_registers(0, count=5, device_id=1)
        assert not reply.isError()
        assert loop.time() - started >= 0.3


async def test_port_in_use_is_reported(loopback_site: Site) -> None:
    async with SiteSimulator(loopback_site) as sim:
        clash = SiteSimulator(loopback_site)
        with pytest.raises(SimulatorError, match="cannot listen"):
            async with clash:
                pass
        assert sim.server("facp-1").port == loopback_site.device("facp-1").transport.port
