"""The gateway benchmark's lean simulator answers from the panel model as a device would."""

from __future__ import annotations

from itertools import pairwise

from pymodbus.client import AsyncModbusTcpClient

from benchmarks.lean_modbus import LeanServer, listen
from fireroom.config import parse_site
from fireroom.points import Table
from simulators import SiteModel


def panel_model() -> SiteModel:
    site = parse_site({
        "site": {"id": "lean"},
        "devices": [{"id": "panel-1", "profile": "gbt26875-panel",
                     "transport": {"type": "tcp", "host": "127.0.0.1"},
                     "points": [{"name": f"P{i}", "index": i} for i in range(10)]}],
    })
    model = SiteModel(site)
    model.panel("panel-1").set_point_state("P3", "fire")
    return model


async def test_lean_server_answers_reads_from_the_image() -> None:
    model = panel_model()
    block = model.devices["panel-1"].blocks[Table.HOLDING]
    server = await listen(LeanServer(model, "panel-1"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
    try:
        assert await client.connect()
        header = await client.read_holding_registers(0, count=6, device_id=1)
        assert header.registers == block.read(0, 6)
        points = await client.read_holding_registers(100, count=10, device_id=1)
        assert points.registers == block.read(100, 10)
        assert points.registers[3] == 0b10  # fire
        across_gap = await client.read_holding_registers(4, count=100, device_id=1)
        assert across_gap.isError()
        assert across_gap.exception_code == 2
        coils = await client.read_coils(0, count=1, device_id=1)
        assert coils.isError()
        assert coils.exception_code == 1
    finally:
        client.close()
        server.close()
        await server.wait_closed()


async def test_volatile_answers_never_repeat_the_last_one() -> None:
    model = panel_model()
    server = await listen(LeanServer(model, "panel-1", volatile=True), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
    try:
        assert await client.connect()
        answers = [(await client.read_holding_registers(100, count=10, device_id=1)).registers
                   for _ in range(5)]
        for last, answer in pairwise(answers):
            assert all(x != y for x, y in zip(last, answer, strict=True))
    finally:
        client.close()
        server.close()
        await server.wait_closed()
