"""Real Modbus servers for the gateway tests: a pymodbus simulator and a misbehaving raw one."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from fireroom.codec import DataType as PointType
from fireroom.codec import WordOrder, encode
from fireroom.config import Site, parse_site

# A small device map spread over all four tables, with gaps, so one device needs six requests:
# holding [0:3] [4:2] [10:3], input [0:1], coil [0:1], discrete [0:2].
PROFILE = """\
name: test-unit
kind: pump_controller
points:
  - {name: running, address: 0, type: bit, bit: 0}
  - {name: fault, address: 0, type: bit, bit: 1}
  - {name: mode, address: 1, type: u16, enum: {0: "off", 1: auto, 2: manual}}
  - {name: pressure, address: 2, type: u16, scale: 0.01, unit: MPa}
  - {name: run_hours, address: 4, type: u32, word_order: CDAB, scale: 0.1, unit: h}
  - {name: temperature, address: 10, type: i16, scale: 0.1, unit: "°C"}
  - {name: power, address: 11, type: f32, unit: kW}
  - name: main_pressure
    table: input
    address: 0
    scale: 0.001
    transmitter: {low: 0.0, high: 1.6, unit: MPa}
  - {name: start_command, table: coil, address: 0, type: coil}
  - {name: door_open, table: discrete, address: 0, type: discrete}
  - {name: on_emergency_supply, table: discrete, address: 1, type: discrete}
"""

POINTS = ["running", "fault", "mode", "pressure", "run_hours", "temperature", "power",
          "main_pressure", "start_command", "door_open", "on_emergency_supply"]

EXPECTED: dict[str, object] = {
    "running": True, "fault": False, "mode": "auto", "pressure": 0.62, "run_hours": 1234.5,
    "temperature": -5.0, "power": 11.5, "main_pressure": 0.8, "start_command": False,
    "door_open": True, "on_emergency_supply": False,
}


def holding_values() -> list[int]:
    registers = [0] * 16
    registers[0] = 0b01  # running, no fault
    registers[1] = 1  # auto
    registers[2] = 62
    registers[4:6] = encode(12345, PointType.U32, WordOrder.CDAB)
    registers[10] = encode(-50, PointType.I16)[0]
    registers[11:13] = encode(11.5, PointType.F32)
    return registers


def write_profile(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "test-unit.yaml").write_text(PROFILE, encoding="utf-8")
    return directory


def make_site(
    site_id: str,
    profiles: Path,
    devices: dict[str, int],
    *,
    poll_interval: float = 0.1,
    timeout: float = 0.3,
    max_gap: int = 0,
    report: dict[str, Any] | None = None,
) -> Site:
    """A site of `test-unit` devices: device id -> loopback port.

    Reads are not merged across gaps unless `max_gap` says so, so each block of the profile
    is a request of its own and a test can spoil one block at a time.
    """
    return parse_site({
        "site": {"id": site_id},
        "profile_dirs": [str(profiles)],
        "devices": [
            {"id": device, "profile": "test-unit",
             "transport": {"type": "tcp", "host": "127.0.0.1", "port": port},
             "poll_interval": poll_interval, "timeout": timeout, "max_gap": max_gap,
             "report": report or {}}
            for device, port in devices.items()
        ],
    })


async def wait_listening(port: int) -> None:
    async with asyncio.timeout(5):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            return


class SimServer:
    """A pymodbus simulator serving `test-unit`; `holding` may be changed while it runs.

    `failures` maps (function code, start address) of a request to the exception to answer;
    `refused` holds (function code, address) pairs a request may not cover (illegal address);
    `busy` is the number of requests still to answer "busy" (exception 6).
    """

    def __init__(self, port: int, *, failures: dict[tuple[int, int], ExcCodes] | None = None):
        self.port = port
        self.holding = holding_values()
        self.failures = failures or {}
        self.refused: set[tuple[int, int]] = set()
        self.busy = 0
        self.requests = 0
        self.asked: list[tuple[int, int, int]] = []  # (function code, address, count)
        self._server: ModbusTcpServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def _action(  # noqa: PLR0917 - pymodbus calls actions positionally
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.requests += 1
        self.asked.append((function_code, address, count))
        if self.busy > 0:
            self.busy -= 1
            return ExcCodes.DEVICE_BUSY
        if (failure := self.failures.get((function_code, address))) is not None:
            return failure
        if any((function_code, a) in self.refused for a in range(address, address + count)):
            return ExcCodes.ILLEGAL_ADDRESS
        if function_code == 3:
            for index, value in enumerate(self.holding):
                if 0 <= index - start_address < len(registers):
                    registers[index - start_address] = value
        return None

    async def start(self) -> None:
        device = SimDevice(
            id=1,
            simdata=(
                [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                [SimData(0, values=[True] + [False] * 15, datatype=DataType.BITS)],
                [SimData(0, values=list(self.holding), datatype=DataType.REGISTERS)],
                [SimData(0, values=[12000] + [0] * 7, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        self._task = asyncio.create_task(self._server.serve_forever(), name="test-modbus-server")
        await wait_listening(self.port)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None


@contextlib.asynccontextmanager
async def sim_server(
    port: int, *, failures: dict[tuple[int, int], ExcCodes] | None = None
) -> AsyncIterator[SimServer]:
    server = SimServer(port, failures=failures)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


Misbehaviour = Literal["wrong_function", "short_count", "truncated", "undecodable", "silent"]


@contextlib.asynccontextmanager
async def raw_server(mode: Misbehaviour) -> AsyncIterator[int]:
    """A TCP server that reads Modbus requests and answers them wrongly; yields its port."""

    writers: set[asyncio.StreamWriter] = set()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                tid, _, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                pdu = await reader.readexactly(length - 1)
                function, _, count = struct.unpack(">BHH", pdu[:5])
                size = count * 2 if function in (3, 4) else (count + 7) // 8
                if mode == "silent":
                    continue
                if mode == "wrong_function":
                    body = bytes([function % 4 + 1, size]) + bytes(size)
                elif mode == "short_count":
                    body = bytes([function, max(0, size - 2)]) + bytes(max(0, size - 2))
                elif mode == "undecodable":
                    body = bytes([function, size + 10]) + bytes(size)  # count beyond the frame
                else:  # truncated: the header promises more than ever arrives
                    body = bytes([function, size]) + bytes(size)
                    writer.write(struct.pack(">HHHB", tid, 0, len(body) + 11, unit) + body)
                    await writer.drain()
                    continue
                writer.write(struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()
