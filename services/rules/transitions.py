"""What the rules engine decides: raise or clear an incident for (rule, subject)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from fireroom.domain import Severity

__all__ = [
    "COMM_LOSS",
    "DEVICE_FAULT",
    "FIRE_ALARM",
    "LOW_PRESSURE",
    "PRE_ALARM",
    "RULE_IDS",
    "SENSOR_FAILED",
    "Clear",
    "Raise",
    "Transition",
]

# Rule ids are a contract: stored in incidents, filtered on in the API, asserted by tests.
FIRE_ALARM: Final = "fire_alarm"
PRE_ALARM: Final = "pre_alarm"
DEVICE_FAULT: Final = "device_fault"
COMM_LOSS: Final = "comm_loss"
LOW_PRESSURE: Final = "low_pressure"
SENSOR_FAILED: Final = "sensor_failed"
RULE_IDS: Final = (FIRE_ALARM, PRE_ALARM, DEVICE_FAULT, COMM_LOSS, LOW_PRESSURE, SENSOR_FAILED)


@dataclass(frozen=True, slots=True)
class Raise:
    """The condition holds (again, or with new detail)."""

    rule: str
    subject: str
    severity: Severity
    message: str
    detail: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    point: str | None = None


@dataclass(frozen=True, slots=True)
class Clear:
    """The condition is gone."""

    rule: str
    subject: str


Transition = Raise | Clear
