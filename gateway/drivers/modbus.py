"""What every Modbus driver shares: sending a planned read, checking the answer.

An answer is used only when it is for the function asked and carries exactly the registers
(or whole bytes of bits) asked; anything else is a `DeviceGarbage`, so a stream out of step
with its requests can never pass one device's values off as another read's.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymodbus.client.base import ModbusBaseClient

from fireroom.errors import DeviceException, DeviceGarbage
from fireroom.points import Table
from gateway.planner import ReadRequest

__all__ = ["send", "values"]


async def send(client: ModbusBaseClient, request: ReadRequest, unit: int) -> object:
    """Send one planned read to `unit` and return pymodbus' answer, unchecked."""
    address, count = request.address, request.count
    if request.table is Table.HOLDING:
        return await client.read_holding_registers(address, count=count, device_id=unit)
    if request.table is Table.INPUT:
        return await client.read_input_registers(address, count=count, device_id=unit)
    if request.table is Table.COIL:
        return await client.read_coils(address, count=count, device_id=unit)
    return await client.read_discrete_inputs(address, count=count, device_id=unit)


def values(request: ReadRequest, response: object, where: str) -> Sequence[int]:
    """The `request.count` registers or bits of an answer; raises `DeviceException` for an
    exception answer and `DeviceGarbage` for one that does not fit the request."""
    if response is None:
        raise DeviceGarbage(f"{where}: no answer")
    is_error = getattr(response, "isError", None)
    function_code = getattr(response, "function_code", None)
    if callable(is_error) and is_error():
        code = int(getattr(response, "exception_code", 0))
        if function_code is not None and function_code & 0x7F != request.function_code:
            raise DeviceGarbage(f"{where}: exception for function {function_code & 0x7F}")
        raise DeviceException(f"{where}: exception code {code}", code)
    if function_code != request.function_code:
        raise DeviceGarbage(f"{where}: answered function {function_code}")
    if request.is_bits:
        bits: list[bool] = list(getattr(response, "bits", ()))
        # Bits come padded to whole bytes; anything else is a malformed answer.
        if not request.count <= len(bits) < request.count + 8:
            raise DeviceGarbage(f"{where}: {len(bits)} bits for {request.count} asked")
        return bits[: request.count]
    registers: list[int] = list(getattr(response, "registers", ()))
    if len(registers) != request.count:
        raise DeviceGarbage(f"{where}: {len(registers)} registers for {request.count} asked")
    return registers
