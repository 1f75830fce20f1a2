"""The lean register answers decode as pymodbus' own do, and fail where they fail."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)

from gateway.drivers import modbus
from gateway.drivers.modbus import LeanHoldingRegistersResponse, LeanInputRegistersResponse
from gateway.drivers.modbus_tcp import ModbusTcpDriver
from gateway.planner import plan
from tests.gateway.modbus import make_site, sim_server, write_profile
from tests.servers import free_port

PAIRS = [
    (LeanHoldingRegistersResponse, ReadHoldingRegistersResponse),
    (LeanInputRegistersResponse, ReadInputRegistersResponse),
]


def decoded(response: ModbusPDU, data: bytes) -> object:
    try:
        response.decode(data)
    except Exception as exc:  # comparing failures is the point
        return ("raises", type(exc), str(exc))
    return response.registers


def datas() -> list[bytes]:
    rng = random.Random(3)
    found = [b"", b"\x00", b"\x02\x00", b"\x01\x05\x06", b"\x03\x00\x01\x02\x03",
             b"\x04\x00\x01\x02", b"\x02\x00\x01\xff\xff"]
    for count in (1, 2, 63, 124, 125):
        registers = [rng.randrange(0x10000) for _ in range(count)]
        found.append(struct.pack(f">B{count}H", 2 * count, *registers))
        found.append(struct.pack(f">B{count}H", 2 * count, *registers) + b"\x99")  # extra byte
    return found


@pytest.mark.parametrize(("lean", "stock"), PAIRS)
def test_lean_answers_decode_as_pymodbus_does(lean: type[ModbusPDU],
                                              stock: type[ModbusPDU]) -> None:
    for data in datas():
        assert decoded(lean(), data) == decoded(stock(), data), data
    assert lean.function_code == stock.function_code
    assert issubclass(lean, stock)


def test_str_leaves_the_registers_out() -> None:
    response = LeanHoldingRegistersResponse(registers=list(range(125)), dev_id=7,
                                            transaction_id=42)
    assert str(response) == (
        "LeanHoldingRegistersResponse(dev_id=7, transaction_id=42, count=125)")


async def test_a_driver_reads_with_lean_answers(tmp_path: Path) -> None:
    port = free_port()
    site = make_site("lean", write_profile(tmp_path / "profiles"), {"unit-1": port})
    device = site.device("unit-1")
    client = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
    driver = ModbusTcpDriver(device, client=client)
    holding, _, _, inputs, *_ = plan(site.points["unit-1"])
    async with sim_server(port):
        await driver.connect()
        answer = await modbus.send(client, holding, device.unit_id)
        assert isinstance(answer, LeanHoldingRegistersResponse)
        assert list(await driver.read(holding)) == [1, 1, 62]
        answer = await modbus.send(client, inputs, device.unit_id)
        assert isinstance(answer, LeanInputRegistersResponse)
    driver.close()
