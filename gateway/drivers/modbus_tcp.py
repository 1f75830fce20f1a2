"""Modbus TCP driver around pymodbus' `AsyncModbusTcpClient`, read-only.

Retries and reconnects belong to the poller, not to pymodbus: the client is built with
`retries=0` and `reconnect_delay=0`, and our `asyncio.timeout` around each call decides when a
device is too slow. pymodbus' own timeout is set a little longer so ours always fires first.
Every pymodbus failure is translated into the `fireroom.errors.DeviceError` tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from fireroom.config import DeviceConfig, TcpTransport
from fireroom.errors import DeviceError, DeviceGarbage, DeviceTimeout
from gateway.drivers import modbus
from gateway.planner import ReadRequest

__all__ = ["ModbusTcpDriver", "make_client"]

_PYMODBUS_GRACE = 1.0


def make_client(device: DeviceConfig) -> AsyncModbusTcpClient:
    """A client configured so that the driver, not pymodbus, owns timeouts and retries."""
    transport = device.transport
    if not isinstance(transport, TcpTransport):
        raise TypeError(f"{device.id}: not a Modbus TCP device ({transport.describe()})")
    return AsyncModbusTcpClient(
        transport.host,
        port=transport.port,
        name=device.id,
        timeout=device.timeout + _PYMODBUS_GRACE,
        retries=0,
        reconnect_delay=0,
    )


class ModbusTcpDriver:
    """Reads one Modbus TCP device; one request at a time, as most devices require.

    A device's scan and its fast lane share the driver: a lock keeps their requests in turn,
    and each request's timeout starts when it has the connection, so waiting for the other's
    answer is never taken for a silent device.

    Args:
        device: the device's config (unit id and timeout are taken from it).
        client: the pymodbus client to use; built from the config when not given. Register
            answers are decoded with `modbus.lean_responses`.
    """

    def __init__(self, device: DeviceConfig, *, client: AsyncModbusTcpClient | None = None) -> None:
        self.device = device
        self.client = client if client is not None else make_client(device)
        modbus.lean_responses(self.client)
        self.timeout = device.timeout
        self.unit_id = device.unit_id
        self._where = f"{device.id} ({device.transport.describe()})"
        self._turn = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return bool(self.client.connected)

    async def connect(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                ok = await self.client.connect()
        except TimeoutError as exc:
            self.client.close()
            raise DeviceTimeout(f"{self._where}: connect timed out after {self.timeout} s") from exc
        except (ModbusException, OSError) as exc:
            raise DeviceError(f"{self._where}: cannot connect: {exc}") from exc
        if not ok:
            raise DeviceError(f"{self._where}: connection refused or unreachable")

    def close(self) -> None:
        self.client.close()

    async def read(self, request: ReadRequest) -> Sequence[int]:
        async with self._turn:
            return await self._read(request)

    async def _read(self, request: ReadRequest) -> Sequence[int]:
        if not self.connected:
            await self.connect()
        where = f"{self._where} {request}"
        try:
            async with asyncio.timeout(self.timeout):
                response = await modbus.send(self.client, request, self.unit_id)
        except TimeoutError as exc:
            # pymodbus leaves the request pending when the connection drops (the peer closed it,
            # or pymodbus dropped it over an undecodable frame): that is a lost connection.
            dropped = not self.connected
            # A late answer must not be taken for the next request's: start a fresh connection.
            self.client.close()
            if dropped:
                raise DeviceError(f"{where}: connection dropped before the answer") from exc
            raise DeviceTimeout(f"{where}: timeout after {self.timeout} s") from exc
        except ConnectionException as exc:
            self.client.close()
            raise DeviceError(f"{where}: connection lost: {exc}") from exc
        except ModbusException as exc:
            # ModbusIOException and friends: the answer could not be understood.
            self.client.close()
            raise DeviceGarbage(f"{where}: malformed answer: {exc}") from exc
        except OSError as exc:
            self.client.close()
            raise DeviceError(f"{where}: connection lost: {exc}") from exc
        return self._values(request, response, where)

    def _values(self, request: ReadRequest, response: object, where: str) -> Sequence[int]:
        try:
            self._check_transaction(response, where)
            return modbus.values(request, response, where)
        except DeviceGarbage:
            # The stream is out of step with our requests: resynchronise on a new connection.
            self.client.close()
            raise

    def _check_transaction(self, response: object, where: str) -> None:
        # pymodbus takes an answer with transaction id 0 as the answer to any request (RTU
        # frames carry no id); over TCP an answer must echo its request's id, or it may be the
        # answer to some other request.
        asked = self.client.ctx.request_transaction_id
        answered = getattr(response, "transaction_id", asked)
        if answered != asked:
            raise DeviceGarbage(f"{where}: answer to transaction {answered}, asked {asked}")
