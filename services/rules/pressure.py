"""Rules on a pressure transmitter's good values.

- `low_pressure` / `high_pressure`: beyond the point's limit for a hold time; clear only once the
  value is back past the limit by the hysteresis, so noise at the limit cannot flap them.
- `pressure_decay`: the pressure falls faster than the configured rate while every pump of the
  site is known to be stopped: water is leaving the system (a leak, an open drain).
- `sensor_flatline`: the value has not moved for hours although the jockey pump kept starting,
  which it does only when the pressure moves: the transmitter is stuck.

Time is the messages' `ts`, so a replay judges exactly as the live stream did.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fireroom.config import RulesConfig
from fireroom.domain import Reading, Severity
from services.rules.plan import Hold, Scan
from services.rules.sensor import AnalogPlan
from services.rules.transitions import (
    HIGH_PRESSURE,
    LOW_PRESSURE,
    PRESSURE_DECAY,
    SENSOR_FLATLINE,
)

__all__ = ["Decay", "PressurePlan"]

_ANCHORS: Final = 8  # reference samples kept over the decay window


@dataclass(slots=True, eq=False)
class Decay:
    """Reference samples (ts, value) taken while every pump was stopped, oldest first."""

    anchors: deque[tuple[float, float]] = field(default_factory=deque)
    active: bool = False


@dataclass(slots=True, eq=False, kw_only=True)
class PressurePlan(AnalogPlan):
    rules: RulesConfig  # the device's effective settings
    low_limit: float
    high_limit: float
    low: Hold = field(default_factory=Hold)
    high: Hold = field(default_factory=Hold)
    decay: Decay | None = None  # made on first use: most sites have few pressure points
    flat_ref: float | None = None  # the value the flatline rule compares against
    flat_since: float = 0.0
    flat_starts: int = 0  # the site's jockey start count when flat_ref was taken
    flat: bool = False

    def observe(self, reading: Reading, scan: Scan) -> None:
        value = self.value(reading, scan)
        if value is None:
            return
        on = scan.on
        if LOW_PRESSURE in on:
            self._low(value, scan)
        if HIGH_PRESSURE in on:
            self._high(value, scan)
        if PRESSURE_DECAY in on:
            self._decay(value, scan)
        if SENSOR_FLATLINE in on:
            self._flatline(value, scan)

    def _low(self, value: float, scan: Scan) -> None:
        rule = self.rules.low_pressure
        limit = self.low_limit
        change = self.low.step(
            value < limit, value > limit + rule.hysteresis, scan.ts, rule.hold_seconds
        )
        if change is True:
            scan.raise_(
                LOW_PRESSURE,
                self,
                Severity.MAJOR,
                f"Low pressure: {self.where}: {value:g}{self.suffix} below {limit:g}{self.suffix}",
                {"value": value, "limit": limit, "unit": self.unit},
            )
        elif change is False:
            scan.clear(LOW_PRESSURE, self.subject)

    def _high(self, value: float, scan: Scan) -> None:
        rule = self.rules.high_pressure
        limit = self.high_limit
        change = self.high.step(
            value > limit, value < limit - rule.hysteresis, scan.ts, rule.hold_seconds
        )
        if change is True:
            scan.raise_(
                HIGH_PRESSURE,
                self,
                Severity.MAJOR,
                f"High pressure: {self.where}: {value:g}{self.suffix} above {limit:g}{self.suffix}",
                {"value": value, "limit": limit, "unit": self.unit},
            )
        elif change is False:
            scan.clear(HIGH_PRESSURE, self.subject)

    def _decay(self, value: float, scan: Scan) -> None:
        rule = self.rules.pressure_decay
        ts = scan.ts
        decay = self.decay
        if decay is None:
            decay = self.decay = Decay()
        anchors = decay.anchors
        quiet = scan.site.quiet_since
        # A pump that ran (or whose state was unknown) since the oldest reference spoils the
        # stretch: the pressure it built says nothing about a leak. Neither raise nor clear.
        if quiet is None or ts < quiet + rule.settle_seconds:
            anchors.clear()
            return
        if anchors and (
            anchors[0][0] < quiet + rule.settle_seconds
            or ts < anchors[-1][0]
            or value > anchors[-1][1] + rule.rise_tolerance
        ):
            anchors.clear()
        window = rule.window_seconds
        if not anchors or ts - anchors[-1][0] >= window / _ANCHORS:
            anchors.append((ts, value))
        while len(anchors) > 1 and ts - anchors[1][0] >= window:
            anchors.popleft()
        start, reference = anchors[0]
        span = ts - start
        if span < rule.min_seconds:
            return
        rate = (reference - value) / span * 60.0  # MPa/min, positive while falling
        if not decay.active and rate > rule.rate:
            decay.active = True
            scan.raise_(
                PRESSURE_DECAY,
                self,
                Severity.MINOR,
                f"Pressure falling with all pumps stopped: {self.where}: "
                f"{rate:.3f}{self.suffix}/min over {span / 60:.0f} min (limit {rule.rate:g})",
                {"rate": round(rate, 4), "limit": rule.rate, "unit": f"{self.unit}/min"},
            )
        elif decay.active and rate <= rule.rate - rule.hysteresis:
            decay.active = False
            scan.clear(PRESSURE_DECAY, self.subject)

    def _flatline(self, value: float, scan: Scan) -> None:
        rule = self.rules.sensor_flatline
        ts = scan.ts
        ref = self.flat_ref
        if ref is None or abs(value - ref) > rule.epsilon or ts < self.flat_since:
            self.flat_ref = value
            self.flat_since = ts
            self.flat_starts = scan.site.jockey_starts
            if self.flat:
                self.flat = False
                scan.clear(SENSOR_FLATLINE, self.subject)
            return
        if (
            not self.flat
            and ts - self.flat_since >= rule.after_seconds
            and scan.site.jockey_starts - self.flat_starts >= rule.min_jockey_starts
        ):
            self.flat = True
            hours = (ts - self.flat_since) / 3600
            starts = scan.site.jockey_starts - self.flat_starts
            scan.raise_(
                SENSOR_FLATLINE,
                self,
                Severity.MINOR,
                f"Sensor stuck: {self.where}: {ref:g}{self.suffix} for {hours:.1f} h "
                f"while the jockey pump started {starts} times",
                {"value": ref, "since": self.flat_since, "jockey_starts": starts},
            )

    def restore(self, rule: str, detail: Mapping[str, Any]) -> bool:
        if rule == LOW_PRESSURE:
            self.low.active = True
        elif rule == HIGH_PRESSURE:
            self.high.active = True
        elif rule == PRESSURE_DECAY:
            self.decay = Decay(active=True)
        elif rule == SENSOR_FLATLINE:
            # Cleared by the first value that moves; until then it stays as it was.
            self.flat = True
            value, since = detail.get("value"), detail.get("since")
            if isinstance(value, (int, float)) and isinstance(since, (int, float)):
                self.flat_ref = float(value)
                self.flat_since = float(since)
        else:
            return AnalogPlan.restore(self, rule, detail)
        return True
