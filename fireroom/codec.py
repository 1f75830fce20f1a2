"""Register encoding and decoding: data types, word and byte orders, scale and offset.

Word orders name where the value's bytes A (most significant) .. D sit on the wire:
ABCD big-endian, CDAB word-swapped, BADC byte-swapped, DCBA little-endian. For 16-bit types
only the byte order matters: BADC and DCBA swap the two bytes of the register.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from enum import StrEnum

__all__ = [
    "DataType",
    "WordOrder",
    "decode",
    "encode",
    "register_count",
]


class DataType(StrEnum):
    BIT = "bit"  # one bit of a holding or input register
    COIL = "coil"
    DISCRETE = "discrete"
    U16 = "u16"
    I16 = "i16"
    U32 = "u32"
    I32 = "i32"
    F32 = "f32"


class WordOrder(StrEnum):
    ABCD = "ABCD"
    DCBA = "DCBA"
    BADC = "BADC"
    CDAB = "CDAB"


_REGISTERS = {DataType.U32: 2, DataType.I32: 2, DataType.F32: 2}
_FORMAT = {DataType.U32: ">I", DataType.I32: ">i", DataType.F32: ">f"}
_LIMITS = {
    DataType.U16: (0, 0xFFFF),
    DataType.I16: (-0x8000, 0x7FFF),
    DataType.U32: (0, 0xFFFFFFFF),
    DataType.I32: (-0x80000000, 0x7FFFFFFF),
}
# Position in the wire bytes of value bytes A, B, C, D.
_PERMUTATION = {
    WordOrder.ABCD: (0, 1, 2, 3),
    WordOrder.CDAB: (2, 3, 0, 1),
    WordOrder.BADC: (1, 0, 3, 2),
    WordOrder.DCBA: (3, 2, 1, 0),
}

# The value's bytes A..D from the two registers in one `struct.pack`: the format packing the
# registers (little-endian swaps each register's bytes) and whether the registers swap places;
# the same arrangement as `_PERMUTATION` gives.
_HALVES = {
    WordOrder.ABCD: (">HH", False),
    WordOrder.CDAB: (">HH", True),
    WordOrder.BADC: ("<HH", False),
    WordOrder.DCBA: ("<HH", True),
}


def register_count(data_type: DataType) -> int:
    """Registers (or bits, for coils and discrete inputs) one value occupies."""
    return _REGISTERS.get(data_type, 1)


def _swap16(register: int) -> int:
    return ((register & 0xFF) << 8) | (register >> 8)


def decode(
    registers: Sequence[int],
    data_type: DataType,
    word_order: WordOrder = WordOrder.ABCD,
    bit: int | None = None,
) -> int | float | bool:
    """Decode one raw value (before scale and offset) from its registers or bits."""
    if data_type in (DataType.COIL, DataType.DISCRETE):
        return bool(registers[0])
    if data_type is DataType.BIT:
        if bit is None:
            raise ValueError("a bit point needs a bit number")
        return bool((registers[0] >> bit) & 1)
    swap = word_order in (WordOrder.BADC, WordOrder.DCBA)
    if data_type is DataType.U16:
        return _swap16(registers[0]) if swap else registers[0]
    if data_type is DataType.I16:
        value = _swap16(registers[0]) if swap else registers[0]
        return value - 0x10000 if value & 0x8000 else value
    halves, swap_words = _HALVES[word_order]
    first, second = (registers[1], registers[0]) if swap_words else (registers[0], registers[1])
    result: int | float = struct.unpack(_FORMAT[data_type], struct.pack(halves, first, second))[0]
    return result


def encode(
    value: float | bool,
    data_type: DataType,
    word_order: WordOrder = WordOrder.ABCD,
) -> list[int]:
    """Encode one raw value into registers (the simulators' side of `decode`).

    Bits are returned as a one-element list holding 0 or 1; callers merge them into a register.
    """
    if data_type in (DataType.COIL, DataType.DISCRETE, DataType.BIT):
        return [1 if value else 0]
    if data_type is DataType.F32:
        if not isinstance(value, (int, float)) or math.isnan(value):
            packed = struct.pack(">f", float(value))
        else:
            packed = struct.pack(">f", value)
    else:
        integer = round(value)
        low, high = _LIMITS[data_type]
        if not low <= integer <= high:
            raise ValueError(f"{value} does not fit in {data_type.value}")
        if data_type in (DataType.U16, DataType.I16):
            register = integer & 0xFFFF
            swap = word_order in (WordOrder.BADC, WordOrder.DCBA)
            return [_swap16(register) if swap else register]
        packed = struct.pack(_FORMAT[data_type], integer)
    order = _PERMUTATION[word_order]
    wire = bytearray(4)
    for value_index, wire_index in enumerate(order):
        wire[wire_index] = packed[value_index]
    high_word, low_word = struct.unpack(">HH", bytes(wire))
    return [high_word, low_word]
