"""The rules engine: telemetry in, incident transitions out. Pure: no I/O, time from a clock.

Fire-safety stance: a reading whose quality is comm_lost, bad or stale says nothing about the
condition behind it, so it never clears an active incident and never raises a value-based one;
only comm_loss and sensor_failed look at quality itself.
"""

from __future__ import annotations

from collections.abc import KeysView, Mapping
from typing import Any, Final

from fireroom.clock import Clock
from fireroom.config import Site
from fireroom.domain import PointValue, Quality, Severity
from fireroom.telemetry import Telemetry
from services.rules.plan import ON, Active, DevicePlan, Kind, PointPlan, Slot, build_plans
from services.rules.transitions import (
    COMM_LOSS,
    DEVICE_FAULT,
    FIRE_ALARM,
    LOW_PRESSURE,
    PRE_ALARM,
    SENSOR_FAILED,
    Clear,
    Raise,
    Transition,
)

__all__ = ["RulesEngine"]

_GOOD: Final = Quality.GOOD
_OUT_OF_RANGE: Final = Quality.OUT_OF_RANGE
_SENSOR_FAILED: Final = Quality.SENSOR_FAILED
_COMM_LOST: Final = Quality.COMM_LOST
_STALE: Final = Quality.STALE

_RULES: Final = {
    Slot.FIRE: FIRE_ALARM,
    Slot.PRE: PRE_ALARM,
    Slot.FAULT: DEVICE_FAULT,
    Slot.LOW: LOW_PRESSURE,
    Slot.SENSOR: SENSOR_FAILED,
}
_SLOTS: Final = {rule: slot for slot, rule in _RULES.items()}
_FIRE: Final = frozenset({"fire"})
_PRE_FLAGS: Final = frozenset({"pre_alarm", "supervisory"})
_POINT_FAULT_FLAGS: Final = frozenset({"fault", "power_fault"})
_SYSTEM_FAULT_FLAGS: Final = frozenset({"mains_fault", "backup_fault", "bus_fault"})
# The summary bit of the system word that stands for each point condition.
_SUMMARY_BITS: Final = {Slot.FIRE: "fire", Slot.PRE: "supervisory", Slot.FAULT: "fault"}
_SUMMARY_SCANS: Final = 2
_PUMP_CRITICAL: Final = frozenset(
    {
        "fail_to_start",
        "phase_reversal",
        "phase_loss_l1",
        "phase_loss_l2",
        "phase_loss_l3",
        "power_loss",
        "locked_rotor",
        "control_voltage_unhealthy",
    }
)


class RulesEngine:
    """Evaluates a site's rules over its telemetry stream.

    Args:
        site: the validated site; which rules apply to which point is computed once here.
        clock: `monotonic()` measures comm_loss silence; value hold times use message `ts`.
    """

    def __init__(self, site: Site, clock: Clock) -> None:
        self.site = site
        self._clock = clock
        rules = site.config.rules
        self._enabled = {
            Slot.FIRE: rules.fire_alarm.enabled,
            Slot.PRE: rules.pre_alarm.enabled,
            Slot.FAULT: rules.device_fault.enabled,
            Slot.LOW: rules.low_pressure.enabled,
            Slot.SENSOR: rules.sensor_failed.enabled,
        }
        self._comm_loss = rules.comm_loss.enabled
        self._hold = rules.low_pressure.hold_seconds
        self._hysteresis = rules.low_pressure.hysteresis
        self._devices = build_plans(site)
        self._subjects: dict[str, PointPlan] = {
            plan.subject: plan
            for device in self._devices.values()
            for plan in device.points.values()
        }
        self.resume()

    @property
    def devices(self) -> KeysView[str]:
        """Ids of the devices this engine knows."""
        return self._devices.keys()

    def resume(self) -> None:
        """Restart every silence timer: after our own outage, devices get a full grace period."""
        now = self._clock.monotonic()
        for device in self._devices.values():
            device.last_good = now

    def restore(self, rule: str, subject: str, detail: Mapping[str, Any] | None = None) -> bool:
        """Take over an active incident from before a restart; False if it is not ours."""
        if rule == COMM_LOSS:
            for device in self._devices.values():
                if device.subject == subject:
                    device.comm_active = True
                    return True
            return False
        slot = _SLOTS.get(rule)
        plan = self._subjects.get(subject)
        if slot is None or plan is None:
            return False
        flags = (detail or {}).get("flags")
        signature: frozenset[str]
        if isinstance(flags, list) and flags:
            signature = frozenset(str(flag) for flag in flags)
        else:
            signature = _FIRE if slot is Slot.FIRE else ON
        plan.active[slot] = signature
        if plan.kind is Kind.FACP_SYSTEM and slot in _SUMMARY_BITS:
            # A restored summary incident stays believed until its bit drops.
            plan.accepted[slot] = slot is not Slot.FAULT or "fault" in signature
        return True

    def tick(self) -> list[Transition]:
        """Time-based rules: devices silent for longer than their comm_loss limit."""
        if not self._comm_loss:
            return []
        now = self._clock.monotonic()
        out: list[Transition] = []
        for device in self._devices.values():
            silent = now - device.last_good
            if not device.comm_active and silent >= device.comm_limit:
                device.comm_active = True
                out.append(
                    Raise(
                        COMM_LOSS,
                        device.subject,
                        Severity.MAJOR,
                        f"No data from {device.name} for {device.comm_limit:g} s",
                        {"limit_seconds": device.comm_limit},
                        device.id,
                        None,
                    )
                )
        return out

    def evaluate(self, telemetry: Telemetry) -> list[Transition]:
        device = self._devices.get(telemetry.device)
        if device is None or telemetry.site != self.site.id:
            return []
        out: list[Transition] = []
        points = device.points
        alive = False
        systems: list[tuple[PointPlan, PointValue]] = []
        enabled = self._enabled
        for reading in telemetry.readings:
            quality = reading.quality
            if not alive and quality is not _COMM_LOST and quality is not _STALE:
                alive = True
            plan = points.get(reading.point)
            if plan is None:
                continue
            if quality is _SENSOR_FAILED:
                if enabled[Slot.SENSOR] and plan.active[Slot.SENSOR] is None:
                    self._set(out, plan, Slot.SENSOR, ON, reading.raw)
                continue
            if quality is not _GOOD and quality is not _OUT_OF_RANGE:
                continue  # untrustworthy: neither raises nor clears
            if plan.active[Slot.SENSOR] is not None:
                self._set(out, plan, Slot.SENSOR, None)
            kind = plan.kind
            value = reading.value
            if kind is Kind.FACP_POINT:
                if isinstance(value, list):
                    self._facp_point(out, device, plan, value)
            elif kind is Kind.FACP_SYSTEM:
                systems.append((plan, value))
            elif kind is Kind.PUMP_ALARMS:
                if isinstance(value, list) and enabled[Slot.FAULT]:
                    active = plan.active[Slot.FAULT]
                    if value or active is not None:
                        flags = frozenset(value) if value else None
                        if flags != active:
                            self._set(out, plan, Slot.FAULT, flags)
            elif (
                kind is Kind.PRESSURE
                and enabled[Slot.LOW]
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ):
                self._pressure(out, plan, float(value), telemetry.ts)
        for plan, value in systems:
            if isinstance(value, list):
                self._facp_system(out, device, plan, value)
        if alive:
            device.last_good = self._clock.monotonic()
            if device.comm_active:
                device.comm_active = False
                if self._comm_loss:
                    out.insert(0, Clear(COMM_LOSS, device.subject))
        return out

    def _facp_point(
        self, out: list[Transition], device: DevicePlan, plan: PointPlan, flags: list[str]
    ) -> None:
        active = plan.active
        fire = "fire" in flags
        if fire != (plan.name in device.in_condition[Slot.FIRE]):
            _mark(device, Slot.FIRE, plan.name, fire)
        if self._enabled[Slot.FIRE] and fire != (active[Slot.FIRE] is not None):
            self._set(out, plan, Slot.FIRE, _FIRE if fire else None)
        for slot, relevant in ((Slot.PRE, _PRE_FLAGS), (Slot.FAULT, _POINT_FAULT_FLAGS)):
            hit = any(flag in relevant for flag in flags)
            if not hit and active[slot] is None:
                if plan.name in device.in_condition[slot]:
                    _mark(device, slot, plan.name, False)
                continue
            _mark(device, slot, plan.name, hit)
            signature = relevant.intersection(flags) if hit else None
            if self._enabled[slot] and signature != active[slot]:
                self._set(out, plan, slot, signature)

    def _facp_system(
        self, out: list[Transition], device: DevicePlan, plan: PointPlan, flags: list[str]
    ) -> None:
        # The system word summarises the points, and the panel's register blocks are read
        # separately, so one scan can tear. Believe a summary bit only when it held for two
        # scans and no point of this panel already explains it.
        for slot, bit in _SUMMARY_BITS.items():
            if bit in flags:
                plan.streaks[slot] += 1
                if (
                    not plan.accepted[slot]
                    and plan.streaks[slot] >= _SUMMARY_SCANS
                    and not device.in_condition[slot]
                ):
                    plan.accepted[slot] = True
            else:
                plan.streaks[slot] = 0
                plan.accepted[slot] = False
        if self._enabled[Slot.FIRE]:
            fire = _FIRE if plan.accepted[Slot.FIRE] else None
            if fire != plan.active[Slot.FIRE]:
                self._set(out, plan, Slot.FIRE, fire)
        if self._enabled[Slot.PRE]:
            pre = frozenset({"supervisory"}) if plan.accepted[Slot.PRE] else None
            if pre != plan.active[Slot.PRE]:
                self._set(out, plan, Slot.PRE, pre)
        if self._enabled[Slot.FAULT]:
            faults = _SYSTEM_FAULT_FLAGS.intersection(flags)
            if plan.accepted[Slot.FAULT]:
                faults = faults | {"fault"}
            signature = frozenset(faults) or None
            if signature != plan.active[Slot.FAULT]:
                self._set(out, plan, Slot.FAULT, signature)

    def _pressure(self, out: list[Transition], plan: PointPlan, value: float, ts: float) -> None:
        limit = plan.low_limit
        if value < limit:
            if plan.below_since is None or ts < plan.below_since:
                plan.below_since = ts
            if plan.active[Slot.LOW] is None and ts - plan.below_since >= self._hold:
                self._set(out, plan, Slot.LOW, ON, value)
            return
        plan.below_since = None
        if plan.active[Slot.LOW] is not None and value > limit + self._hysteresis:
            self._set(out, plan, Slot.LOW, None)

    def _set(
        self,
        out: list[Transition],
        plan: PointPlan,
        slot: Slot,
        signature: Active,
        value: float | None = None,
    ) -> None:
        plan.active[slot] = signature
        rule = _RULES[slot]
        if signature is None:
            out.append(Clear(rule, plan.subject))
            return
        severity, message, detail = _describe(plan, slot, signature, value)
        out.append(Raise(rule, plan.subject, severity, message, detail, plan.device, plan.name))


def _mark(device: DevicePlan, slot: Slot, point: str, on: bool) -> None:
    if on:
        device.in_condition[slot].add(point)
    else:
        device.in_condition[slot].discard(point)


def _describe(
    plan: PointPlan, slot: Slot, signature: frozenset[str], value: float | None
) -> tuple[Severity, str, dict[str, Any]]:
    where = f"{plan.label} ({plan.subject})"
    flags = sorted(signature)
    if slot is Slot.FIRE:
        return Severity.CRITICAL, f"Fire alarm: {where}", {"label": plan.label}
    if slot is Slot.PRE:
        return Severity.MAJOR, f"Pre-alarm/supervisory: {where}", {"flags": flags}
    if slot is Slot.FAULT:
        critical = plan.kind is Kind.PUMP_ALARMS and not signature.isdisjoint(_PUMP_CRITICAL)
        severity = Severity.CRITICAL if critical else Severity.MAJOR
        return severity, f"Device fault: {where}: {', '.join(flags)}", {"flags": flags}
    unit = f" {plan.unit}" if plan.unit else ""
    if slot is Slot.LOW:
        return (
            Severity.MAJOR,
            f"Low pressure: {where}: {value:g}{unit} below {plan.low_limit:g}{unit}",
            {"value": value, "limit": plan.low_limit, "unit": plan.unit},
        )
    return Severity.MAJOR, f"Sensor failed: {where}", {"raw": value}
