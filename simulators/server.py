"""How simulated devices answer Modbus requests, with injectable communication faults.

A Modbus TCP device gets a pymodbus server of its own (`DeviceServer`); the devices of an RTU
line share one (`simulators.rtu.RtuLineServer`).
"""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from fireroom.points import Table
from simulators.devices import Block, SimulatedDevice
from simulators.errors import SimulatorError

__all__ = ["DeviceServer", "ServedDevice", "answering"]

log = logging.getLogger("fireroom.simulators")

_TABLE_OF_FUNCTION = {
    1: Table.COIL, 5: Table.COIL, 15: Table.COIL,
    2: Table.DISCRETE,
    3: Table.HOLDING, 6: Table.HOLDING, 16: Table.HOLDING, 22: Table.HOLDING, 23: Table.HOLDING,
    4: Table.INPUT,
}
_WRITES = {5, 6, 15, 16}
# pymodbus needs at least one entry per table; a bit table without points gets one 16-bit group at
# the top of the address space, so the addresses a profile could use all stay illegal.
_UNUSED_BITS = 65520
_SILENCE = 3600.0

# The unit id whose answer the current server task is building.
answering: ContextVar[int | None] = ContextVar("answering", default=None)


def _simdata(table: Table, block: Block | None) -> list[SimData]:
    if table in (Table.COIL, Table.DISCRETE):
        if block is None:
            return [SimData(address=_UNUSED_BITS, values=[False] * 16, datatype=DataType.BITS)]
        return [
            SimData(address=address, values=[False] * count, datatype=DataType.BITS)
            for address, count in block.runs
        ]
    if block is None:
        return [SimData(address=0, datatype=DataType.INVALID)]
    return [
        SimData(address=address, values=[0] * count, datatype=DataType.REGISTERS)
        for address, count in block.runs
    ]


class ServedDevice:
    """How a Modbus server answers for one simulated device, with injectable faults.

    Addresses no point occupies answer illegal address. Faults: `silence()` stops answering
    (requests are held, never answered), `fail_with(code)` answers every request with a Modbus
    exception, `delay_by(seconds)` answers late; `answer()` returns to normal.
    """

    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        self.silent = False
        self.exception: ExcCodes | None = None
        self.delay = 0.0
        self._silenced: set[asyncio.Task[object]] = set()
        self._delayed: set[asyncio.Task[object]] = set()

    @property
    def unit_id(self) -> int:
        return self.device.config.unit_id

    def silence(self) -> None:
        self.silent = True

    def fail_with(self, code: int) -> None:
        try:
            self.exception = ExcCodes(code)
        except ValueError:
            raise SimulatorError(f"{code} is not a Modbus exception code") from None

    def delay_by(self, seconds: float) -> None:
        self.delay = max(0.0, seconds)

    def answer(self) -> None:
        self.silent = False
        self.exception = None
        self.delay = 0.0
        # A device that comes back does not answer the requests it missed.
        for task in self._silenced:
            task.cancel()

    def simdevice(self) -> SimDevice:
        """The pymodbus device that answers from this device's register image."""
        blocks = self.device.blocks
        return SimDevice(
            id=self.unit_id,
            simdata=(
                _simdata(Table.COIL, blocks.get(Table.COIL)),
                _simdata(Table.DISCRETE, blocks.get(Table.DISCRETE)),
                _simdata(Table.HOLDING, blocks.get(Table.HOLDING)),
                _simdata(Table.INPUT, blocks.get(Table.INPUT)),
            ),
            action=self._action,
        )

    async def drop_pending(self) -> None:
        """Forget the requests held by a silence or a delay (the server is stopping)."""
        pending = self._silenced | self._delayed
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _hold(self, seconds: float, tasks: set[asyncio.Task[object]]) -> None:
        task = asyncio.current_task()
        if task is None:
            return
        tasks.add(task)
        try:
            await asyncio.sleep(seconds)
        finally:
            tasks.discard(task)

    async def _action(
        self,
        function_code: int,
        _start_address: int,
        address: int,
        _count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.silent:
            await self._hold(_SILENCE, self._silenced)
        if self.delay:
            await self._hold(self.delay, self._delayed)
        # pymodbus stamps an answer with the unit id of the latest request, which after a
        # delay may be another unit's; this answer is ours (see `answering`).
        answering.set(self.unit_id)
        if self.exception is not None:
            return self.exception
        table = _TABLE_OF_FUNCTION.get(function_code)
        block = self.device.blocks.get(table) if table is not None else None
        if block is None:
            return ExcCodes.ILLEGAL_ADDRESS
        if values is not None and function_code in _WRITES:
            block.write(address, [int(value) for value in values])
        registers[: len(block.words)] = block.words
        return None


class DeviceServer(ServedDevice):
    """Serves one device on its own Modbus TCP server, with the faults of `ServedDevice`."""

    def __init__(self, device: SimulatedDevice, host: str, port: int) -> None:
        super().__init__(device)
        self.host = host
        self._port = port
        self._server: ModbusTcpServer | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when started on port 0)."""
        server = self._server
        if server is not None and server.transport is not None:
            sockets = getattr(server.transport, "sockets", None)
            if sockets:
                port: int = sockets[0].getsockname()[1]
                return port
        return self._port

    async def start(self) -> None:
        server = ModbusTcpServer(self.simdevice(), address=(self.host, self._port))
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            await server.shutdown()  # type: ignore[no-untyped-call]
            raise SimulatorError(
                f"{self.device.id}: cannot listen on {self.host}:{self._port}"
            ) from exc
        self._server = server
        log.info("simulator %s listening on %s:%d", self.device.id, self.host, self.port)

    async def stop(self) -> None:
        await self.drop_pending()
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
