"""Shift patterns: when shifts change, how many operators a shift needs, handover deadline.

Times are wall-clock times in the site's time zone; a pattern of ["08:00", "16:00", "00:00"] is
three 8 h shifts (GB 25201 §5.2 caps a shift at 8 h; some sites run 12 h, so it is configurable).
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Shift", "ShiftsConfig", "shift_at"]

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ShiftsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: Annotated[list[str], Field(min_length=1, max_length=24)] = ["08:00", "16:00", "00:00"]
    min_operators: Annotated[int, Field(ge=1, le=50)] = 2
    handover_within_minutes: Annotated[int, Field(ge=1, le=720)] = 30
    # GB 25506: equipment status goes into the duty log every 2 h.
    status_every_minutes: Annotated[int, Field(ge=5, le=720)] = 120

    @field_validator("pattern")
    @classmethod
    def _times(cls, pattern: list[str]) -> list[str]:
        for value in pattern:
            if not _HHMM.match(value):
                raise ValueError(f"shift change {value!r} is not HH:MM (24 h)")
        if len(set(pattern)) != len(pattern):
            raise ValueError(f"shift changes repeat: {pattern}")
        return pattern

    def starts(self) -> list[time]:
        return sorted(time(int(value[:2]), int(value[3:])) for value in self.pattern)


class Shift(BaseModel):
    """One concrete shift: [start, end) in Unix seconds."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float


def shift_at(config: ShiftsConfig, moment: float, zone: ZoneInfo) -> Shift:
    """The shift `moment` falls in."""
    local = datetime.fromtimestamp(moment, zone)
    changes: list[datetime] = []
    for day in (-1, 0, 1):
        date = local.date() + timedelta(days=day)
        changes.extend(datetime.combine(date, start, zone) for start in config.starts())
    changes.sort()
    for start, end in itertools.pairwise(changes):
        if start <= local < end:
            return Shift(start=start.timestamp(), end=end.timestamp())
    raise AssertionError("a shift pattern covers every moment")  # three days always do
