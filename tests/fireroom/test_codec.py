"""Register codec: every data type in every word order, edge values and known wire layouts."""

from __future__ import annotations

import math
import struct

import pytest

from fireroom.codec import DataType, WordOrder, decode, encode, register_count

ORDERS = list(WordOrder)

EDGES: dict[DataType, list[float]] = {
    DataType.U16: [0, 1, 0x1234, 0x7FFF, 0x8000, 0xFFFF],
    DataType.I16: [0, 1, -1, 0x7FFF, -0x8000, 0x1234, -0x1234],
    DataType.U32: [0, 1, 0xFFFF, 0x10000, 0x11223344, 0x7FFFFFFF, 0xFFFFFFFF],
    DataType.I32: [0, 1, -1, 0x7FFFFFFF, -0x80000000, 0x11223344, -0x11223344],
    DataType.F32: [0.0, -0.0, 1.0, -1.5, 3.4028234663852886e38, -3.4028234663852886e38,
                   1.401298464324817e-45, math.inf, -math.inf],
}


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    ("data_type", "value"), [(t, v) for t, values in EDGES.items() for v in values]
)
def test_round_trip(data_type: DataType, value: float, order: WordOrder) -> None:
    registers = encode(value, data_type, order)
    assert len(registers) == register_count(data_type)
    assert all(0 <= r <= 0xFFFF for r in registers)
    decoded = decode(registers, data_type, order)
    assert decoded == value
    if data_type is DataType.F32:
        assert math.copysign(1.0, float(decoded)) == math.copysign(1.0, value)


@pytest.mark.parametrize("order", ORDERS)
def test_f32_nan_round_trips_as_nan(order: WordOrder) -> None:
    registers = encode(math.nan, DataType.F32, order)
    value = decode(registers, DataType.F32, order)
    assert isinstance(value, float)
    assert math.isnan(value)


@pytest.mark.parametrize(
    ("order", "registers"),
    [
        (WordOrder.ABCD, [0x1122, 0x3344]),
        (WordOrder.CDAB, [0x3344, 0x1122]),
        (WordOrder.BADC, [0x2211, 0x4433]),
        (WordOrder.DCBA, [0x4433, 0x2211]),
    ],
)
def test_u32_known_layout(order: WordOrder, registers: list[int]) -> None:
    assert encode(0x11223344, DataType.U32, order) == registers
    assert decode(registers, DataType.U32, order) == 0x11223344


@pytest.mark.parametrize(
    ("order", "registers"),
    [
        (WordOrder.ABCD, [0x3F80, 0x0000]),
        (WordOrder.CDAB, [0x0000, 0x3F80]),
        (WordOrder.BADC, [0x803F, 0x0000]),
        (WordOrder.DCBA, [0x0000, 0x803F]),
    ],
)
def test_f32_known_layout(order: WordOrder, registers: list[int]) -> None:
    assert encode(1.0, DataType.F32, order) == registers
    assert decode(registers, DataType.F32, order) == 1.0


@pytest.mark.parametrize(
    ("order", "registers"),
    [
        (WordOrder.ABCD, [0xFFFF, 0xFFFE]),
        (WordOrder.CDAB, [0xFFFE, 0xFFFF]),
        (WordOrder.BADC, [0xFFFF, 0xFEFF]),
        (WordOrder.DCBA, [0xFEFF, 0xFFFF]),
    ],
)
def test_i32_minus_two_layout(order: WordOrder, registers: list[int]) -> None:
    assert encode(-2, DataType.I32, order) == registers
    assert decode(registers, DataType.I32, order) == -2


@pytest.mark.parametrize(
    ("order", "register"),
    [(WordOrder.ABCD, 0x1234), (WordOrder.CDAB, 0x1234),
     (WordOrder.BADC, 0x3412), (WordOrder.DCBA, 0x3412)],
)
def test_16_bit_types_only_swap_bytes(order: WordOrder, register: int) -> None:
    assert encode(0x1234, DataType.U16, order) == [register]
    assert decode([register], DataType.U16, order) == 0x1234
    assert decode([register], DataType.I16, order) == 0x1234


@pytest.mark.parametrize("order", ORDERS)
def test_i16_sign_edges(order: WordOrder) -> None:
    swap = order in (WordOrder.BADC, WordOrder.DCBA)
    assert decode([0x0080 if swap else 0x8000], DataType.I16, order) == -0x8000
    assert decode([0xFFFF], DataType.I16, order) == -1
    assert decode([0xFF7F if swap else 0x7FFF], DataType.I16, order) == 0x7FFF
    assert decode([0x0080 if swap else 0x8000], DataType.U16, order) == 0x8000
    assert encode(-1, DataType.I16, order) == [0xFFFF]


def test_f32_matches_struct_for_ieee_specials() -> None:
    (inf_bits,) = struct.unpack(">I", struct.pack(">f", math.inf))
    assert encode(math.inf, DataType.F32) == [inf_bits >> 16, inf_bits & 0xFFFF]
    assert decode([0x7FC0, 0x0000], DataType.F32) != decode([0x7FC0, 0x0000], DataType.F32)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("bit", [0, 1, 7, 8, 15])
def test_bit_reads_the_register_as_received(bit: int, order: WordOrder) -> None:
    # Bit numbers refer to the register value; word order does not apply to single bits.
    assert decode([1 << bit], DataType.BIT, order, bit=bit) is True
    assert decode([0xFFFF ^ (1 << bit)], DataType.BIT, order, bit=bit) is False
    assert encode(True, DataType.BIT, order) == [1]
    assert encode(False, DataType.BIT, order) == [0]


def test_bit_without_bit_number_is_an_error() -> None:
    with pytest.raises(ValueError, match="bit number"):
        decode([1], DataType.BIT)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("data_type", [DataType.COIL, DataType.DISCRETE])
def test_coil_and_discrete(data_type: DataType, order: WordOrder) -> None:
    assert decode([True], data_type, order) is True
    assert decode([False], data_type, order) is False
    assert decode([1], data_type, order) is True
    assert encode(True, data_type, order) == [1]
    assert encode(False, data_type, order) == [0]
    assert register_count(data_type) == 1


@pytest.mark.parametrize(
    ("data_type", "value"),
    [(DataType.U16, 0x10000), (DataType.U16, -1), (DataType.I16, 0x8000),
     (DataType.I16, -0x8001), (DataType.U32, -1), (DataType.U32, 0x100000000),
     (DataType.I32, 0x80000000), (DataType.I32, -0x80000001)],
)
def test_encode_rejects_values_out_of_range(data_type: DataType, value: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode(value, data_type)


def test_encode_rounds_integers() -> None:
    assert encode(41.6, DataType.U16) == [42]
    assert encode(-0.4, DataType.I16) == [0]
