"""Fire water tank: `tank_low_level` on level points, `tank_low_temperature` on temperature points.

Both are a value below a limit for a hold time, clearing above limit + hysteresis: water sloshes
while a pump draws and a room warms slowly, so a single sample decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fireroom.domain import Reading, Severity
from services.rules.plan import Hold, Scan
from services.rules.sensor import AnalogPlan
from services.rules.transitions import TANK_LOW_LEVEL, TANK_LOW_TEMPERATURE

__all__ = ["LowLimitPlan"]

_WHAT = {TANK_LOW_LEVEL: "Tank level low", TANK_LOW_TEMPERATURE: "Temperature low"}


@dataclass(slots=True, eq=False, kw_only=True)
class LowLimitPlan(AnalogPlan):
    """A level or temperature that must stay above its limit."""

    rule: str  # TANK_LOW_LEVEL or TANK_LOW_TEMPERATURE
    limit: float
    hold: float
    hysteresis: float
    low: Hold = field(default_factory=Hold)

    def observe(self, reading: Reading, scan: Scan) -> None:
        value = self.value(reading, scan)
        if value is None or self.rule not in scan.on:
            return
        limit = self.limit
        change = self.low.step(value < limit, value > limit + self.hysteresis, scan.ts, self.hold)
        if change is True:
            scan.raise_(
                self.rule,
                self,
                Severity.MAJOR,
                f"{_WHAT[self.rule]}: {self.where}: {value:g}{self.suffix} "
                f"below {limit:g}{self.suffix}",
                {"value": value, "limit": limit, "unit": self.unit},
            )
        elif change is False:
            scan.clear(self.rule, self.subject)

    def restore(self, rule: str, detail: Mapping[str, Any]) -> bool:
        if rule == self.rule:
            self.low.active = True
            return True
        return AnalogPlan.restore(self, rule, detail)
