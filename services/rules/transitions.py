"""What the rules engine decides: raise or clear an incident for (rule, subject)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from fireroom.domain import Severity

__all__ = [
    "COMM_LOSS",
    "DEVICE_FAULT",
    "FIRE_ALARM",
    "HIGH_PRESSURE",
    "ISOLATION",
    "JOCKEY_SHORT_CYCLING",
    "LOW_PRESSURE",
    "MONITORING_DEGRADED",
    "NONCONFORMING_CONFIGURATION",
    "PRESSURE_DECAY",
    "PRE_ALARM",
    "PUMP_FAIL_TO_START",
    "PUMP_POWER_FAULT",
    "RULE_IDS",
    "SENSOR_FAILED",
    "SENSOR_FLATLINE",
    "SENSOR_OUT_OF_RANGE",
    "SYSTEM_IN_MANUAL",
    "TANK_LOW_LEVEL",
    "TANK_LOW_TEMPERATURE",
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
ISOLATION: Final = "isolation"
SYSTEM_IN_MANUAL: Final = "system_in_manual"
PUMP_FAIL_TO_START: Final = "pump_fail_to_start"
PUMP_POWER_FAULT: Final = "pump_power_fault"
HIGH_PRESSURE: Final = "high_pressure"
PRESSURE_DECAY: Final = "pressure_decay"
JOCKEY_SHORT_CYCLING: Final = "jockey_short_cycling"
SENSOR_OUT_OF_RANGE: Final = "sensor_out_of_range"
SENSOR_FLATLINE: Final = "sensor_flatline"
TANK_LOW_LEVEL: Final = "tank_low_level"
TANK_LOW_TEMPERATURE: Final = "tank_low_temperature"
# Raised by the services themselves, not by a configurable rule: they cannot be switched off.
MONITORING_DEGRADED: Final = "monitoring_degraded"
NONCONFORMING_CONFIGURATION: Final = "nonconforming_configuration"
RULE_IDS: Final = (
    FIRE_ALARM,
    PRE_ALARM,
    DEVICE_FAULT,
    COMM_LOSS,
    LOW_PRESSURE,
    SENSOR_FAILED,
    ISOLATION,
    SYSTEM_IN_MANUAL,
    PUMP_FAIL_TO_START,
    PUMP_POWER_FAULT,
    HIGH_PRESSURE,
    PRESSURE_DECAY,
    JOCKEY_SHORT_CYCLING,
    SENSOR_OUT_OF_RANGE,
    SENSOR_FLATLINE,
    TANK_LOW_LEVEL,
    TANK_LOW_TEMPERATURE,
)


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
