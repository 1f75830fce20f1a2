"""Point decoding: registers to a value with its quality.

4–20 mA transmitters are judged by NAMUR NE 43: at or below 3.6 mA or at or above 21 mA the
sensor has failed (wire break, short) and no number is reported; 3.6–3.8 and 20.5–21 mA are out
of range and the number is reported with that quality.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

from fireroom import codec
from fireroom.codec import DataType, WordOrder
from fireroom.domain import PointValue, Quality, Reading
from fireroom.points import PointSpec, Transmitter

__all__ = ["NAMUR_FAILED_HIGH", "NAMUR_FAILED_LOW", "PointDecoder", "namur_quality"]

NAMUR_FAILED_LOW = 3.6
NAMUR_VALID_LOW = 3.8
NAMUR_VALID_HIGH = 20.5
NAMUR_FAILED_HIGH = 21.0


def namur_quality(milliamps: float) -> Quality:
    if milliamps <= NAMUR_FAILED_LOW or milliamps >= NAMUR_FAILED_HIGH:
        return Quality.SENSOR_FAILED
    if milliamps < NAMUR_VALID_LOW or milliamps > NAMUR_VALID_HIGH:
        return Quality.OUT_OF_RANGE
    return Quality.GOOD


def _engineering(milliamps: float, transmitter: Transmitter) -> float:
    span = transmitter.high - transmitter.low
    return transmitter.low + (milliamps - 4.0) / 16.0 * span


class PointDecoder:
    """Decodes one point; built once per point so a scan does no lookups in the spec.

    `decode(words)` gives the reading of the point from its registers (or bits). It is chosen
    here, once, for the point's kind: a bit or coil returns one of two readings made in
    advance; a 16-bit status word looks its flags up a byte at a time; a 16-bit enumeration
    or number is decoded inline. Everything else, and a word outside 0..65535, takes the
    generic path (`decode_generic`), which every specialised decoder matches reading for
    reading. Readings may be shared: never modify one.
    """

    __slots__ = ("bit", "data_type", "decode", "enum", "flags", "name", "offset", "scale", "spec",
                 "transmitter", "word_order")

    decode: Callable[[Sequence[int]], Reading]

    def __init__(self, spec: PointSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.data_type = spec.type
        self.word_order = spec.word_order
        self.bit = spec.bit
        self.scale = spec.scale
        self.offset = spec.offset
        self.enum = spec.enum
        self.flags = sorted(spec.flags.items()) if spec.flags else None
        self.transmitter = spec.transmitter
        self.decode = self._specialised()

    def decode_generic(self, words: Sequence[int]) -> Reading:
        """The reading of this point from its registers (or bits), by the generic path."""
        return self.from_raw(codec.decode(words, self.data_type, self.word_order, self.bit))

    def from_raw(self, raw: bool | int | float) -> Reading:
        """The reading of a raw value: what the registers hold, or what a device sent as JSON.

        Status words, enumerations, scaling and 4-20 mA judgement are the same whichever way
        the raw value arrived, so an MQTT device decodes to the same states as a Modbus one.
        """
        if isinstance(raw, bool):
            return Reading(self.name, raw, Quality.GOOD)
        value: PointValue
        if self.flags is not None:
            value = [name for bit, name in self.flags if (int(raw) >> bit) & 1]
            return Reading(self.name, value, Quality.GOOD)
        if self.enum is not None:
            label = self.enum.get(int(raw))
            if label is None:
                # An undocumented state is not a state we can vouch for.
                return Reading(self.name, None, Quality.BAD, float(raw))
            return Reading(self.name, label, Quality.GOOD)
        if self.data_type is DataType.F32 and math.isnan(raw):  # NaN from the device
            return Reading(self.name, None, Quality.BAD)
        number = raw * self.scale + self.offset if (self.scale != 1.0 or self.offset) else raw
        if self.transmitter is None:
            return Reading(self.name, number, Quality.GOOD)
        # Scaling leaves float noise (36 * 0.1 = 3.6000000000000005) that would move a value
        # across a NAMUR band edge; no module resolves below a nanoamp.
        milliamps = round(float(number), 9)
        quality = namur_quality(milliamps)
        if quality is Quality.SENSOR_FAILED:
            return Reading(self.name, None, quality, milliamps)
        return Reading(self.name, round(_engineering(milliamps, self.transmitter), 6), quality,
                       milliamps)

    def _specialised(self) -> Callable[[Sequence[int]], Reading]:
        data_type = self.data_type
        if data_type in (DataType.COIL, DataType.DISCRETE, DataType.BIT):
            return _bit_decoder(self)
        if data_type not in (DataType.U16, DataType.I16) or self.transmitter is not None:
            return self.decode_generic
        if self.flags is None and self.enum is None:
            return _number_decoder(self)
        if data_type is not DataType.U16:
            return self.decode_generic  # config validation allows no such point
        return _flags_decoder(self) if self.flags is not None else _enum_decoder(self)


def _bit_decoder(decoder: PointDecoder) -> Callable[[Sequence[int]], Reading]:
    on = Reading(decoder.name, True, Quality.GOOD)
    off = Reading(decoder.name, False, Quality.GOOD)
    if decoder.data_type is not DataType.BIT:  # a coil or discrete input: the bit itself
        return lambda words: on if words[0] else off
    if decoder.bit is None:
        return decoder.decode_generic  # which says what is wrong
    mask = 1 << decoder.bit
    return lambda words: on if words[0] & mask else off


@functools.lru_cache(maxsize=256)
def _flag_tables(
    flags: tuple[tuple[int, str], ...],
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """For each of the 256 values of a 16-bit word's low and high byte, its set flags in bit
    order; a panel's thousands of points share one status word layout, so one pair of tables."""
    low = tuple(tuple(name for bit, name in flags if bit < 8 and (value >> bit) & 1)
                for value in range(256))
    high = tuple(tuple(name for bit, name in flags if 8 <= bit < 16 and (value >> (bit - 8)) & 1)
                 for value in range(256))
    return low, high


def _flags_decoder(decoder: PointDecoder) -> Callable[[Sequence[int]], Reading]:
    assert decoder.flags is not None
    name = decoder.name
    good = Quality.GOOD
    swap = decoder.word_order in (WordOrder.BADC, WordOrder.DCBA)
    low, high = _flag_tables(tuple(decoder.flags))
    generic = decoder.decode_generic

    def decode(words: Sequence[int]) -> Reading:
        raw = words[0]
        if type(raw) is not int or not 0 <= raw <= 0xFFFF:
            return generic(words)
        if swap:
            return Reading(name, [*low[raw >> 8], *high[raw & 0xFF]], good)
        return Reading(name, [*low[raw & 0xFF], *high[raw >> 8]], good)

    return decode


def _enum_decoder(decoder: PointDecoder) -> Callable[[Sequence[int]], Reading]:
    assert decoder.enum is not None
    name = decoder.name
    enum = decoder.enum
    good, bad = Quality.GOOD, Quality.BAD
    swap = decoder.word_order in (WordOrder.BADC, WordOrder.DCBA)
    generic = decoder.decode_generic

    def decode(words: Sequence[int]) -> Reading:
        raw = words[0]
        if type(raw) is not int or not 0 <= raw <= 0xFFFF:
            return generic(words)
        if swap:
            raw = ((raw & 0xFF) << 8) | (raw >> 8)
        label = enum.get(raw)
        if label is None:
            # An undocumented state is not a state we can vouch for.
            return Reading(name, None, bad, float(raw))
        return Reading(name, label, good)

    return decode


def _number_decoder(decoder: PointDecoder) -> Callable[[Sequence[int]], Reading]:
    name = decoder.name
    good = Quality.GOOD
    swap = decoder.word_order in (WordOrder.BADC, WordOrder.DCBA)
    signed = decoder.data_type is DataType.I16
    scaled = decoder.scale != 1.0 or bool(decoder.offset)
    scale, offset = decoder.scale, decoder.offset
    generic = decoder.decode_generic

    def decode(words: Sequence[int]) -> Reading:
        raw = words[0]
        if type(raw) is not int or not 0 <= raw <= 0xFFFF:
            return generic(words)
        if swap:
            raw = ((raw & 0xFF) << 8) | (raw >> 8)
        if signed and raw & 0x8000:
            raw -= 0x10000
        return Reading(name, raw * scale + offset if scaled else raw, good)

    return decode
