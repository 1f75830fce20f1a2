"""What the engine precomputes per device and point, and the condition state it keeps there.

Built once from the site so that evaluating a reading is one dict lookup and a branch on `kind`;
points that no rule looks at are left out of the plan entirely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from fireroom.config import Site
from fireroom.domain import point_id
from fireroom.points import PointSpec, Role

__all__ = ["Active", "DevicePlan", "Kind", "PointPlan", "Slot", "build_plans"]

# The condition signature of an active incident: the flags behind it, or ON for value rules.
# None means no active condition. Comparing signatures tells "unchanged" from "updated".
Active = frozenset[str] | None
ON: Final[frozenset[str]] = frozenset({"on"})


class Kind(IntEnum):
    FACP_POINT = 1
    FACP_SYSTEM = 2
    PUMP_ALARMS = 3
    PRESSURE = 4
    SENSOR_ONLY = 5  # only sensor health applies (level, temperature, other transmitters)


class Slot(IntEnum):
    """Index of a rule's state in `PointPlan.active`."""

    FIRE = 0
    PRE = 1
    FAULT = 2
    LOW = 3
    SENSOR = 4


_KINDS = {
    Role.FACP_POINT: Kind.FACP_POINT,
    Role.FACP_SYSTEM: Kind.FACP_SYSTEM,
    Role.PUMP_ALARMS: Kind.PUMP_ALARMS,
    Role.PRESSURE: Kind.PRESSURE,
}


@dataclass(slots=True, eq=False)
class PointPlan:
    device: str
    name: str
    subject: str
    kind: Kind
    label: str
    unit: str | None
    low_limit: float
    active: list[Active] = field(default_factory=lambda: [None] * len(Slot))
    below_since: float | None = None  # message ts when the pressure first went low
    streaks: list[int] = field(default_factory=lambda: [0] * 3)  # system summary, per slot
    accepted: list[bool] = field(default_factory=lambda: [False] * 3)  # summary bit believed


@dataclass(slots=True, eq=False)
class DevicePlan:
    id: str
    name: str
    subject: str
    comm_limit: float
    points: dict[str, PointPlan]
    last_good: float = 0.0  # clock.monotonic() of the last message with a usable reading
    comm_active: bool = False
    # Points of this panel currently in each condition (slots FIRE, PRE, FAULT), so the
    # system word's summary bit is trusted only when no point explains it.
    in_condition: tuple[set[str], set[str], set[str]] = field(
        default_factory=lambda: (set(), set(), set())
    )


def _plan(site: Site, device: str, spec: PointSpec, threshold: float) -> PointPlan | None:
    if spec.role is None:
        if spec.transmitter is None:
            return None
        kind = Kind.SENSOR_ONLY
    else:
        kind = _KINDS.get(spec.role, Kind.SENSOR_ONLY)
    unit = spec.transmitter.unit if spec.transmitter is not None else spec.unit
    return PointPlan(
        device=device,
        name=spec.name,
        subject=point_id(site.id, device, spec.name),
        kind=kind,
        label=spec.label or spec.name,
        unit=unit,
        low_limit=spec.low_limit if spec.low_limit is not None else threshold,
    )


def build_plans(site: Site) -> dict[str, DevicePlan]:
    rules = site.config.rules
    plans: dict[str, DevicePlan] = {}
    for device in site.config.devices:
        points: dict[str, PointPlan] = {}
        for spec in site.points.get(device.id, []):
            plan = _plan(site, device.id, spec, rules.low_pressure.threshold)
            if plan is None:
                continue
            points[spec.name] = plan
        plans[device.id] = DevicePlan(
            id=device.id,
            name=device.name or device.id,
            subject=f"{site.id}/{device.id}",
            comm_limit=min(
                rules.comm_loss.intervals * device.poll_interval, rules.comm_loss.cap_seconds
            ),
            points=points,
        )
    return plans
