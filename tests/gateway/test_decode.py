"""PointDecoder: scale and offset, enumerations, flags, NAMUR NE 43 bands."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from fireroom.codec import DataType, WordOrder, encode
from fireroom.domain import Quality
from fireroom.points import PointSpec
from gateway.decode import PointDecoder


def decoder(**fields: Any) -> PointDecoder:
    return PointDecoder(PointSpec.model_validate({"name": "p", "address": 0, **fields}))


def test_scale_and_offset() -> None:
    reading = decoder(type="i16", scale=0.1, offset=-40.0).decode([0xFFF6])  # -10
    assert reading.quality is Quality.GOOD
    assert reading.value == pytest.approx(-41.0)


def test_unscaled_value_stays_an_integer() -> None:
    reading = decoder(type="u32", word_order="CDAB").decode(encode(70000, DataType.U32,
                                                                   WordOrder.CDAB))
    assert reading.value == 70000
    assert isinstance(reading.value, int)


def test_enum_known_and_unknown() -> None:
    point = decoder(enum={0: "off", 1: "auto", 2: "manual"})
    assert point.decode([1]).value == "auto"
    unknown = point.decode([7])
    assert unknown.quality is Quality.BAD
    assert unknown.value is None
    assert unknown.raw == 7.0


def test_flags_list_set_bits_in_bit_order() -> None:
    point = decoder(flags={0: "normal", 1: "fire", 2: "fault", 13: "reset"})
    assert point.decode([0b0010_0000_0000_0110]).value == ["fire", "fault", "reset"]
    assert point.decode([0]).value == []


def test_u32_flags_above_bit_15() -> None:
    point = decoder(type="u32", flags={0: "a", 20: "b"})
    assert point.decode([0x0010, 0x0001]).value == ["a", "b"]


def test_bit_point() -> None:
    assert decoder(type="bit", bit=3).decode([0b1000]).value is True
    assert decoder(type="bit", bit=2).decode([0b1000]).value is False


def test_f32_nan_is_bad_and_inf_passes() -> None:
    nan = decoder(type="f32").decode(encode(float("nan"), DataType.F32))
    assert (nan.value, nan.quality) == (None, Quality.BAD)
    assert decoder(type="f32").decode(encode(float("inf"), DataType.F32)).value == float("inf")


@pytest.mark.parametrize(
    ("microamps", "quality", "value"),
    [
        (0, Quality.SENSOR_FAILED, None),
        (3600, Quality.SENSOR_FAILED, None),
        (3700, Quality.OUT_OF_RANGE, pytest.approx(-0.03)),
        (3800, Quality.GOOD, pytest.approx(-0.02)),
        (4000, Quality.GOOD, 0.0),
        (12000, Quality.GOOD, pytest.approx(0.8)),
        (20000, Quality.GOOD, pytest.approx(1.6)),
        (20500, Quality.GOOD, pytest.approx(1.65)),
        (20600, Quality.OUT_OF_RANGE, pytest.approx(1.66)),
        (21000, Quality.SENSOR_FAILED, None),
        (25000, Quality.SENSOR_FAILED, None),
    ],
)
def test_namur_bands(microamps: int, quality: Quality, value: object) -> None:
    point = decoder(scale=0.001, transmitter={"low": 0.0, "high": 1.6, "unit": "MPa"})
    reading = point.decode([microamps])
    assert reading.quality is quality
    assert reading.value == value
    assert reading.raw == pytest.approx(microamps / 1000)


@pytest.mark.parametrize(
    ("register", "quality"),
    [(36, Quality.SENSOR_FAILED), (37, Quality.OUT_OF_RANGE), (38, Quality.GOOD),
     (205, Quality.GOOD), (206, Quality.OUT_OF_RANGE), (210, Quality.SENSOR_FAILED)],
)
def test_namur_edges_survive_float_scaling(register: int, quality: Quality) -> None:
    point = decoder(scale=0.1, transmitter={"low": 0.0, "high": 10.0, "unit": "m"})
    assert point.decode([register]).quality is quality


# --- the specialised decoders give what the generic path gives --------------------------------

FLAGS = {0: "normal", 1: "fire", 2: "fault", 7: "b7", 8: "b8", 9: "pre_alarm", 15: "absent"}
ENUM = {0: "off", 1: "auto", 2: "manual", 0x8000: "high", 0xFFFF: "all"}
TRANSMITTER = {"low": -1.0, "high": 1.6, "unit": "MPa"}
ORDERS = [order.value for order in WordOrder]

SPECS: list[dict[str, Any]] = [
    *({"type": kind, "word_order": order, **extra}
      for kind in ("u16", "i16")
      for order in ORDERS
      for extra in ({}, {"scale": 0.1}, {"scale": 0.1, "offset": -40.0}, {"offset": 3.0},
                    {"scale": 0.001, "transmitter": TRANSMITTER})),
    *({"type": "u16", "word_order": order, **extra}
      for order in ORDERS
      for extra in ({"flags": FLAGS}, {"flags": {15: "top"}}, {"enum": ENUM},
                    {"enum": ENUM, "scale": 0.1})),
    *({"type": kind, "word_order": order, **extra}
      for kind in ("u32", "i32", "f32")
      for order in ORDERS
      for extra in ({}, {"scale": 0.5, "offset": 1.0})),
    *({"type": "u32", "word_order": order, **extra}
      for order in ORDERS
      for extra in ({"flags": {0: "a", 16: "b", 31: "c"}}, {"enum": {0: "off", 70000: "on"}})),
    *({"type": "bit", "bit": bit} for bit in range(16)),
    {"table": "coil", "type": "coil"},
    {"table": "discrete", "type": "discrete"},
]

_EDGES = [0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100, 0x203, 0x7FFF, 0x8000, 0x8001, 0xFFFE, 0xFFFF]
_RNG = random.Random(26875)
WORDS = [*_EDGES, *(_RNG.randrange(0x10000) for _ in range(300))]
# Not registers, but whatever the specialised path does with them must be what the generic does.
ODD_WORDS = [True, False, 0x10000, -1, 0x12345]


def outcome(decode: Any, words: list[Any]) -> object:
    """A reading with the types of its value and raw (5 and 5.0 are different JSON), or the
    exception raised."""
    try:
        reading = decode(words)
    except Exception as exc:  # comparing failures is the point
        return ("raises", type(exc))
    value = reading.value
    if isinstance(value, float) and math.isnan(value):
        value = "nan"
    return (reading.point, type(reading.value), value, reading.quality, type(reading.raw),
            reading.raw)


def spec_id(fields: dict[str, Any]) -> str:
    return "-".join(f"{key}={value}" for key, value in fields.items()
                    if key not in ("flags", "enum", "transmitter")) + "".join(
        f"-{key}" for key in ("flags", "enum", "transmitter") if key in fields)


@pytest.mark.parametrize("fields", SPECS, ids=spec_id)
def test_specialised_decoder_matches_the_generic_path(fields: dict[str, Any]) -> None:
    point = decoder(**fields)
    if point.spec.count == 1:
        answers = [[word] for word in WORDS + ODD_WORDS]
    else:
        answers = [[high, low] for high in _EDGES + ODD_WORDS for low in _EDGES + ODD_WORDS]
        answers += [[_RNG.randrange(0x10000), _RNG.randrange(0x10000)] for _ in range(300)]
    for words in answers:
        assert outcome(point.decode, words) == outcome(point.decode_generic, words), words


@pytest.mark.parametrize(
    "fields",
    [{"type": "u16"}, {"type": "i16", "word_order": "DCBA", "scale": 0.1},
     {"type": "u16", "flags": FLAGS}, {"type": "u16", "enum": ENUM},
     {"type": "bit", "bit": 3}, {"table": "coil", "type": "coil"}],
    ids=spec_id,
)
def test_common_points_take_a_specialised_decoder(fields: dict[str, Any]) -> None:
    point = decoder(**fields)
    assert point.decode != point.decode_generic


def test_a_bit_decodes_to_one_of_two_readings_made_once() -> None:
    point = decoder(type="bit", bit=4)
    assert point.decode([0x10]) is point.decode([0xFFFF])
    assert point.decode([0]) is point.decode([0xFFEF])
    assert point.decode([0x10]).value is True
    assert point.decode([0]).value is False


def test_flags_of_a_status_word_are_a_new_list_each_time() -> None:
    point = decoder(flags=FLAGS)
    first, second = point.decode([0b110]), point.decode([0b110])
    assert first.value == second.value == ["fire", "fault"]
    assert first.value is not second.value
