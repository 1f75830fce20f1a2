"""Fire alarm control panel: point and system status words (GB/T 26875.3 style flags).

Point words raise `fire_alarm`, `pre_alarm` (pre-alarm or supervisory), `device_fault` (fault,
power fault) and `isolation` (disabled). The system word summarises the points, and the panel's
register blocks are read separately, so one scan can tear: a summary bit (fire, supervisory,
fault, disabled) is believed only when it held for two scans and no point of this panel already
explains it. The system word's own facts need no confirmation: mains, backup power and bus faults
raise `device_fault`, and `manual` held longer than the limit raises `system_in_manual`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final

from fireroom.domain import Quality, Reading, Severity
from services.rules.isolation import Isolated, Isolation, judge, restored
from services.rules.plan import ON, Active, Hold, PointPlan, Scan
from services.rules.transitions import (
    DEVICE_FAULT,
    FIRE_ALARM,
    ISOLATION,
    PRE_ALARM,
    SYSTEM_IN_MANUAL,
)

__all__ = ["FacpPointPlan", "FacpSystemPlan", "Panel"]

_GOOD: Final = Quality.GOOD
_PRE_FLAGS: Final = frozenset({"pre_alarm", "supervisory"})
_POINT_FAULT_FLAGS: Final = frozenset({"fault", "power_fault"})
_SYSTEM_FAULT_FLAGS: Final = frozenset({"mains_fault", "backup_fault", "bus_fault"})
# A point word without any of these flags, on a point with nothing active, needs no work.
_WATCHED: Final = frozenset({"fire", "disabled"}) | _PRE_FLAGS | _POINT_FAULT_FLAGS
_SUPERVISORY: Final = frozenset({"supervisory"})
_SUMMARY_SCANS: Final = 2


class Cond(IntEnum):
    """A point condition the system word summarises, and the index of its summary bit."""

    FIRE = 0
    PRE = 1
    FAULT = 2
    DISABLED = 3


# The summary bit of the system word that stands for each condition.
_SUMMARY_BITS: Final = ("fire", "supervisory", "fault", "disabled")


@dataclass(slots=True, eq=False)
class Panel:
    """A panel's points currently in each condition, and its system words."""

    in_condition: tuple[set[str], ...] = field(
        default_factory=lambda: tuple(set() for _ in Cond)
    )
    systems: list[FacpSystemPlan] = field(default_factory=list)

    def finish(self, scan: Scan) -> None:
        """Judge the system words once every point of the scan has been seen."""
        for system in self.systems:
            flags = system.pending
            if flags is not None:
                system.pending = None
                system.judge(flags, scan)

    def isolations(self, points: Mapping[str, PointPlan]) -> list[Isolation]:
        entries: list[Isolation] = []
        for name in self.in_condition[Cond.DISABLED]:
            plan = points.get(name)
            if isinstance(plan, FacpPointPlan) and plan.isolated is not None:
                entries.append(plan.isolated.entry(plan))
        for system in self.systems:
            if system.isolated is not None:
                entries.append(system.isolated.entry(system))
        return entries


def _mark(members: set[str], name: str, on: bool) -> None:
    if on:
        members.add(name)
    else:
        members.discard(name)


@dataclass(slots=True, eq=False)
class FacpPointPlan(PointPlan):
    """One detector, call point or module status word."""

    panel: Panel
    fire: bool = False
    pre: Active = None
    fault: Active = None
    isolated: Isolated | None = None
    busy: bool = False  # some flag of interest was set, or some incident is active

    def observe(self, reading: Reading, scan: Scan) -> None:
        if reading.quality is not _GOOD:
            return  # untrustworthy: neither raises nor clears
        flags = reading.value
        if not isinstance(flags, list) or (not self.busy and _WATCHED.isdisjoint(flags)):
            return
        on = scan.on
        conditions = self.panel.in_condition
        name = self.name
        fire = "fire" in flags
        _mark(conditions[Cond.FIRE], name, fire)
        if FIRE_ALARM in on and fire != self.fire:
            self.fire = fire
            if fire:
                scan.raise_(
                    FIRE_ALARM,
                    self,
                    Severity.CRITICAL,
                    f"Fire alarm: {self.where}",
                    {"label": self.label},
                )
            else:
                scan.clear(FIRE_ALARM, self.subject)
        pre = _PRE_FLAGS.intersection(flags) or None
        _mark(conditions[Cond.PRE], name, pre is not None)
        if PRE_ALARM in on and pre != self.pre:
            self.pre = pre
            _flags_incident(scan, PRE_ALARM, self, pre, "Pre-alarm/supervisory")
        fault = _POINT_FAULT_FLAGS.intersection(flags) or None
        _mark(conditions[Cond.FAULT], name, fault is not None)
        if DEVICE_FAULT in on and fault != self.fault:
            self.fault = fault
            _flags_incident(scan, DEVICE_FAULT, self, fault, "Device fault")
        disabled = "disabled" in flags
        _mark(conditions[Cond.DISABLED], name, disabled)
        if disabled or self.isolated is not None:
            self.isolated = judge(self, self.isolated, disabled, scan)
        self.busy = (
            fire
            or self.fire
            or pre is not None
            or self.pre is not None
            or fault is not None
            or self.fault is not None
            or self.isolated is not None
        )

    def restore(self, rule: str, detail: Mapping[str, Any]) -> bool:
        if rule == FIRE_ALARM:
            self.fire = True
        elif rule == PRE_ALARM:
            self.pre = _restored_flags(detail)
        elif rule == DEVICE_FAULT:
            self.fault = _restored_flags(detail)
        elif rule == ISOLATION:
            self.isolated = restored(detail.get("since"))
        else:
            return False
        self.busy = True
        return True


@dataclass(slots=True, eq=False)
class FacpSystemPlan(PointPlan):
    """A panel's system status word."""

    panel: Panel
    streaks: list[int] = field(default_factory=lambda: [0] * len(Cond))
    accepted: list[bool] = field(default_factory=lambda: [False] * len(Cond))
    fire: bool = False
    pre: Active = None
    fault: Active = None
    isolated: Isolated | None = None
    manual: Hold = field(default_factory=Hold)
    pending: list[str] | None = None  # this scan's flags, judged after the points

    def observe(self, reading: Reading, scan: Scan) -> None:
        if reading.quality is _GOOD and isinstance(reading.value, list):
            self.pending = reading.value

    def judge(self, flags: list[str], scan: Scan) -> None:
        conditions = self.panel.in_condition
        streaks, accepted = self.streaks, self.accepted
        for index, bit in enumerate(_SUMMARY_BITS):
            if bit in flags:
                streaks[index] += 1
                if (
                    not accepted[index]
                    and streaks[index] >= _SUMMARY_SCANS
                    and not conditions[index]
                ):
                    accepted[index] = True
            else:
                streaks[index] = 0
                accepted[index] = False
        on = scan.on
        if FIRE_ALARM in on and accepted[Cond.FIRE] != self.fire:
            self.fire = accepted[Cond.FIRE]
            if self.fire:
                scan.raise_(
                    FIRE_ALARM,
                    self,
                    Severity.CRITICAL,
                    f"Fire alarm: {self.where}",
                    {"label": self.label},
                )
            else:
                scan.clear(FIRE_ALARM, self.subject)
        if PRE_ALARM in on:
            pre = _SUPERVISORY if accepted[Cond.PRE] else None
            if pre != self.pre:
                self.pre = pre
                _flags_incident(scan, PRE_ALARM, self, pre, "Pre-alarm/supervisory")
        if DEVICE_FAULT in on:
            faults = _SYSTEM_FAULT_FLAGS.intersection(flags)
            if accepted[Cond.FAULT]:
                faults = faults | {"fault"}
            fault = faults or None
            if fault != self.fault:
                self.fault = fault
                _flags_incident(scan, DEVICE_FAULT, self, fault, "Device fault")
        disabled = accepted[Cond.DISABLED]
        if disabled or self.isolated is not None:
            self.isolated = judge(self, self.isolated, disabled, scan)
        if SYSTEM_IN_MANUAL in on:
            self._manual("manual" in flags, scan)

    def _manual(self, manual: bool, scan: Scan) -> None:
        after = scan.device.rules.system_in_manual.after_seconds
        change = self.manual.step(manual, not manual, scan.ts, after)
        if change is True:
            scan.raise_(
                SYSTEM_IN_MANUAL,
                self,
                Severity.MAJOR,
                f"Panel in manual for more than {after / 60:g} min: {self.where}",
                {"since": self.manual.since, "mode": "manual"},
            )
        elif change is False:
            scan.clear(SYSTEM_IN_MANUAL, self.subject)

    def restore(self, rule: str, detail: Mapping[str, Any]) -> bool:
        # A restored summary incident stays believed until its bit drops.
        if rule == FIRE_ALARM:
            self.fire = True
            self.accepted[Cond.FIRE] = True
        elif rule == PRE_ALARM:
            self.pre = _SUPERVISORY
            self.accepted[Cond.PRE] = True
        elif rule == DEVICE_FAULT:
            self.fault = _restored_flags(detail)
            self.accepted[Cond.FAULT] = "fault" in self.fault
        elif rule == ISOLATION:
            self.isolated = restored(detail.get("since"))
            self.accepted[Cond.DISABLED] = True
        elif rule == SYSTEM_IN_MANUAL:
            self.manual.active = True
        else:
            return False
        return True


def _restored_flags(detail: Mapping[str, Any]) -> frozenset[str]:
    flags = detail.get("flags")
    if isinstance(flags, list) and flags:
        return frozenset(str(flag) for flag in flags)
    return ON


def _flags_incident(
    scan: Scan, rule: str, plan: PointPlan, signature: Active, what: str
) -> None:
    if signature is None:
        scan.clear(rule, plan.subject)
        return
    flags = sorted(signature)
    severity = Severity.MAJOR
    message = f"{what}: {plan.where}"
    if rule == DEVICE_FAULT:
        message += f": {', '.join(flags)}"
    scan.raise_(rule, plan, severity, message, {"flags": flags})
