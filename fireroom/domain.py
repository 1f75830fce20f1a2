"""Domain types shared by gateway, services and simulators."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "IncidentState",
    "PointValue",
    "Quality",
    "Reading",
    "Severity",
    "point_id",
]


class Quality(StrEnum):
    """How far a reading can be trusted.

    A lost device is reported as `comm_lost` with no value, never as its last value.
    `bad` means the device answered but this value could not be used (exception, garbage).
    """

    GOOD = "good"
    STALE = "stale"
    COMM_LOST = "comm_lost"
    OUT_OF_RANGE = "out_of_range"
    SENSOR_FAILED = "sensor_failed"
    BAD = "bad"


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"


class IncidentState(StrEnum):
    """ISA-18.2 alarm states, plus shelved and out of service."""

    ACTIVE_UNACKED = "active_unacked"
    ACTIVE_ACKED = "active_acked"
    CLEARED_UNACKED = "cleared_unacked"
    CLOSED = "closed"
    SHELVED = "shelved"
    OUT_OF_SERVICE = "out_of_service"


# A decoded value: a number, a boolean, an enumeration label, or the names of the set flags.
PointValue = float | int | bool | str | list[str] | None


@dataclass(slots=True)
class Reading:
    """One decoded point value at one time, with its quality.

    `raw` keeps the undecoded signal where it matters to people (a transmitter's mA).
    """

    point: str
    value: PointValue
    quality: Quality
    raw: float | None = None


def point_id(site: str, device: str, point: str) -> str:
    return f"{site}/{device}/{point}"
