"""Point decoding: registers to a value with its quality.

4–20 mA transmitters are judged by NAMUR NE 43: at or below 3.6 mA or at or above 21 mA the
sensor has failed (wire break, short) and no number is reported; 3.6–3.8 and 20.5–21 mA are out
of range and the number is reported with that quality.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fireroom import codec
from fireroom.codec import DataType
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
    """Decodes one point; built once per point so a scan does no lookups in the spec."""

    __slots__ = ("bit", "data_type", "enum", "flags", "name", "offset", "scale", "spec",
                 "transmitter", "word_order")

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

    def decode(self, words: Sequence[int]) -> Reading:
        """The reading of this point from its registers (or bits)."""
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
