"""Sensor health of 4–20 mA transmitters, judged by the quality NAMUR NE 43 gives a reading.

`sensor_failed` (≤ 3.6 mA or ≥ 21 mA: wire break, short) raises at once; `sensor_out_of_range`
(3.6–3.8 or 20.5–21 mA) only after it lasted `hold_seconds`, because a value resting at the edge
of the range would otherwise flap. Every other rule of an analog point sees only good values:
a failed or out-of-range transmitter's number is no pressure to raise anything on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fireroom.domain import Quality, Reading, Severity
from services.rules.plan import PointPlan, Scan
from services.rules.transitions import SENSOR_FAILED, SENSOR_OUT_OF_RANGE

__all__ = ["AnalogPlan"]

_GOOD: Final = Quality.GOOD
_FAILED: Final = Quality.SENSOR_FAILED
_OUT_OF_RANGE: Final = Quality.OUT_OF_RANGE


@dataclass(slots=True, eq=False)
class AnalogPlan(PointPlan):
    """A transmitter: its sensor health; subclasses add rules on its good values."""

    unit: str | None
    oor_hold: float  # sensor_out_of_range hold_seconds
    failed: bool = False
    oor_since: float | None = None
    oor: bool = False

    def observe(self, reading: Reading, scan: Scan) -> None:
        self.value(reading, scan)

    def value(self, reading: Reading, scan: Scan) -> float | None:
        """Judge the reading's quality; the number if it is good, else None."""
        quality = reading.quality
        if quality is _GOOD:
            if self.failed:
                self.failed = False
                scan.clear(SENSOR_FAILED, self.subject)
            self.oor_since = None
            if self.oor:
                self.oor = False
                scan.clear(SENSOR_OUT_OF_RANGE, self.subject)
            value = reading.value
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            return None
        if quality is _FAILED:
            if not self.failed and SENSOR_FAILED in scan.on:
                self.failed = True
                scan.raise_(
                    SENSOR_FAILED,
                    self,
                    Severity.MAJOR,
                    f"Sensor failed: {self.where}",
                    {"raw": reading.raw},
                )
        elif quality is _OUT_OF_RANGE:
            # Back inside the NAMUR failure limits: the sensor works again, if not in range.
            if self.failed:
                self.failed = False
                scan.clear(SENSOR_FAILED, self.subject)
            self._out_of_range(reading, scan)
        return None

    def _out_of_range(self, reading: Reading, scan: Scan) -> None:
        ts = scan.ts
        if self.oor_since is None or ts < self.oor_since:
            self.oor_since = ts
        if (
            not self.oor
            and ts - self.oor_since >= self.oor_hold
            and SENSOR_OUT_OF_RANGE in scan.on
        ):
            self.oor = True
            value = reading.value
            shown = f": {value:g}{self.suffix}" if isinstance(value, (int, float)) else ""
            scan.raise_(
                SENSOR_OUT_OF_RANGE,
                self,
                Severity.MINOR,
                f"Sensor out of range: {self.where}{shown}",
                {"raw": reading.raw},
            )

    @property
    def suffix(self) -> str:
        return f" {self.unit}" if self.unit else ""

    def restore(self, rule: str, detail: Mapping[str, Any]) -> bool:
        if rule == SENSOR_FAILED:
            self.failed = True
            return True
        if rule == SENSOR_OUT_OF_RANGE:
            self.oor = True
            return True
        return False
