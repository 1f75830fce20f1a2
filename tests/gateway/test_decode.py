"""PointDecoder: scale and offset, enumerations, flags, NAMUR NE 43 bands."""

from __future__ import annotations

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
