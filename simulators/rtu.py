"""One pymodbus server with RTU framing for all the simulated devices of an RTU line.

A serial line is served on a serial port: in tests the other end of a pseudo-terminal pair whose
first end the gateway opens; otherwise an RS-485 adapter wired to the gateway's bus. A serial
server line (`rtu-over-tcp`) is served on its host and port, RTU frames inside TCP.

The line behaves like an RS-485 bus: a unit id no device has is silent, and each device keeps
the faults of `ServedDevice` (silence, exception, delay). Every request received and answer sent
is kept in `frames`, so tests can check that requests never overlap and keep their gap.
"""

from __future__ import annotations

import logging
import termios
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from fireroom.config import RtuOverTcpLine, SerialLine
from simulators.errors import SimulatorError
from simulators.server import ServedDevice, answering

__all__ = ["Frame", "RtuLineServer"]

log = logging.getLogger("fireroom.simulators")

_FRAMES_KEPT = 10_000
_ANYONE = 0  # pymodbus hands a request for a unit id it does not know to device 0


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame the line carried: `at` is `time.monotonic()`, the wire's time, not a model's."""

    at: float
    kind: Literal["request", "answer"]
    unit: int
    function_code: int  # of an exception answer too, without its exception flag


async def _nobody(*_args: object) -> ExcCodes:
    answering.set(None)
    return ExcCodes.ILLEGAL_ADDRESS  # never sent: the line drops answers of absent units


class RtuLineServer:
    """Serves the devices of one RTU line.

    Args:
        line: the line's config; an `rtu-over-tcp` line listens on its host and port.
        devices: the devices on the line, one unit id each.
        port: the serial port to serve a serial line on; the line's own `port` if not given.
    """

    def __init__(
        self,
        line: SerialLine | RtuOverTcpLine,
        devices: Sequence[ServedDevice],
        *,
        port: str | None = None,
    ) -> None:
        units = [device.unit_id for device in devices]
        if len(set(units)) != len(units):
            raise SimulatorError(f"line {line.id}: unit ids repeat: {sorted(units)}")
        self.line = line
        self.devices = {device.unit_id: device for device in devices}
        # Where a serial line is served; a serial server line listens on its host and port.
        self.serial_port = port or (line.port if isinstance(line, SerialLine) else None)
        self.frames: deque[Frame] = deque(maxlen=_FRAMES_KEPT)
        self._server: ModbusSerialServer | ModbusTcpServer | None = None

    @property
    def where(self) -> str:
        if isinstance(self.line, SerialLine):
            return f"serial port {self.serial_port}"
        return f"{self.line.host}:{self.line.port}"

    async def start(self) -> None:
        simdevices = [device.simdevice() for device in self.devices.values()]
        if _ANYONE not in self.devices:
            simdevices.append(
                SimDevice(
                    id=_ANYONE,
                    simdata=[SimData(0, values=[0], datatype=DataType.REGISTERS)],
                    action=_nobody,
                )
            )
        line = self.line
        server: ModbusSerialServer | ModbusTcpServer
        if isinstance(line, SerialLine):
            server = ModbusSerialServer(
                simdevices, framer=FramerType.RTU, port=self.serial_port or line.port,
                baudrate=line.baudrate, bytesize=line.bytesize, parity=line.parity,
                stopbits=line.stopbits, trace_packet=self._on_packet, trace_pdu=self._on_pdu,
            )
        else:
            server = ModbusTcpServer(
                simdevices, framer=FramerType.RTU, address=(line.host, line.port),
                trace_packet=self._on_packet, trace_pdu=self._on_pdu,
            )
        try:
            await server.serve_forever(background=True)
        except (RuntimeError, termios.error) as exc:
            # termios refuses settings the port cannot take (parity on a pty, odd speeds).
            await server.shutdown()  # type: ignore[no-untyped-call]
            raise SimulatorError(f"line {line.id}: cannot serve on {self.where}: {exc}") from exc
        self._server = server
        log.info("simulator line %s on %s: units %s", line.id, self.where,
                 ", ".join(str(unit) for unit in sorted(self.devices)))

    async def stop(self) -> None:
        for device in self.devices.values():
            await device.drop_pending()
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    def _on_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending:
            unit = answering.get()
            if unit is not None:
                pdu.dev_id = unit
        else:
            self.frames.append(Frame(time.monotonic(), "request", pdu.dev_id, pdu.function_code))
        return pdu

    def _on_packet(self, sending: bool, packet: bytes) -> bytes:
        if not sending:
            return packet
        if len(packet) < 2 or packet[0] not in self.devices:
            return b""  # no device has this unit id: on a bus, nobody answers
        self.frames.append(Frame(time.monotonic(), "answer", packet[0], packet[1] & 0x7F))
        return packet
