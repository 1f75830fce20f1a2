"""Fire-safety rules over the live telemetry stream."""

from services.rules.engine import RulesEngine
from services.rules.transitions import (
    COMM_LOSS,
    DEVICE_FAULT,
    FIRE_ALARM,
    LOW_PRESSURE,
    PRE_ALARM,
    RULE_IDS,
    SENSOR_FAILED,
    Clear,
    Raise,
    Transition,
)

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
    "RulesEngine",
    "Transition",
]
