"""Modbus RTU driver: one unit id on a shared `gateway.lines.RtuLine`, read-only.

The line does the work a wire needs (its lock, the frame gap, timeouts, pymodbus' errors turned
into the `fireroom.errors.DeviceError` tree); the driver names the device in every error.

`close()` hands the line back rather than closing it. The poller closes a driver after every
failed scan, and a unit that stopped answering must not cut its neighbours off: the port or
connection stays open while another device on the line still holds it, and closes when the
last one lets go. The next `read()` takes the line again and reopens it if need be.
"""

from __future__ import annotations

from collections.abc import Sequence

from fireroom.config import DeviceConfig, RtuTransport
from gateway.lines import RtuLine, answer_timeout
from gateway.planner import ReadRequest

__all__ = ["ModbusRtuDriver"]


class ModbusRtuDriver:
    """Reads one unit on an RTU line, taking turns with the line's other devices.

    Args:
        device: the device's config (unit id; its timeout, else the line's).
        line: the line the device is on, shared with the drivers of its other devices.
    """

    def __init__(self, device: DeviceConfig, line: RtuLine) -> None:
        transport = device.transport
        if not isinstance(transport, RtuTransport) or transport.line != line.id:
            raise TypeError(f"{device.id}: not on RTU line {line.id} ({transport.describe()})")
        self.device = device
        self.line = line
        self.unit_id = device.unit_id
        self.timeout = answer_timeout(device, line.line)
        self._where = f"{device.id} ({line.line.describe()} unit {device.unit_id})"

    @property
    def connected(self) -> bool:
        return self.line.connected

    async def connect(self) -> None:
        self.line.attach(self)
        await self.line.open(self.timeout, self._where)

    async def read(self, request: ReadRequest) -> Sequence[int]:
        self.line.attach(self)
        return await self.line.read(
            self.unit_id, request, within=self.timeout, where=f"{self._where} {request}"
        )

    def close(self) -> None:
        self.line.release(self)
