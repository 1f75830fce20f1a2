"""Building the engine's plans from a site: which rules look at which point, with which limits."""

from __future__ import annotations

from fireroom.config import DeviceConfig, RulesConfig, Site
from fireroom.domain import point_id
from fireroom.points import PointSpec, Role
from services.rules.panel import FacpPointPlan, FacpSystemPlan, Panel
from services.rules.plan import DevicePlan, PointPlan, enabled_rules
from services.rules.pressure import PressurePlan
from services.rules.pump import Pump, PumpAlarmsPlan, PumpSignalPlan, Signal
from services.rules.sensor import AnalogPlan
from services.rules.tank import LowLimitPlan
from services.rules.transitions import TANK_LOW_LEVEL, TANK_LOW_TEMPERATURE

__all__ = ["build_plans"]

_SIGNALS = {
    Role.PUMP_RUNNING: Signal.RUNNING,
    Role.PUMP_DEMAND: Signal.DEMAND,
    Role.PUMP_START: Signal.START,
    Role.PUMP_MODE: Signal.MODE,
}
_PUMP_ROLES = frozenset(_SIGNALS) | {Role.PUMP_ALARMS}
_PANEL_ROLES = frozenset({Role.FACP_POINT, Role.FACP_SYSTEM})
_ALARM_ROLES = _PANEL_ROLES | {Role.PUMP_ALARMS, Role.PUMP_RUNNING}


def _pump(site: Site, device: DeviceConfig, rules: RulesConfig) -> Pump:
    settings = device.pump
    timeouts = rules.pump_fail_to_start
    large = (
        settings is not None
        and settings.rated_kw is not None
        and settings.rated_kw > timeouts.large_kw
    )
    return Pump(
        device=device.id,
        subject=f"{site.id}/{device.id}",
        name=device.name or device.id,
        rules=rules,
        jockey=settings is not None and settings.kind == "jockey",
        start_timeout=timeouts.large_start_timeout if large else timeouts.start_timeout,
    )


def _analog(
    device: DevicePlan, spec: PointSpec, subject: str, label: str, unit: str | None
) -> PointPlan:
    rules = device.rules
    oor_hold = rules.sensor_out_of_range.hold_seconds
    common = (device.id, spec.name, subject, label, unit, oor_hold)
    if spec.role is Role.PRESSURE:
        low = rules.low_pressure.threshold if spec.low_limit is None else spec.low_limit
        high = rules.high_pressure.threshold if spec.high_limit is None else spec.high_limit
        return PressurePlan(*common, rules=rules, low_limit=low, high_limit=high)
    if spec.role is Role.LEVEL:
        level = rules.tank_low_level
        limit = level.threshold if spec.low_limit is None else spec.low_limit
        if limit is not None:
            return LowLimitPlan(
                *common,
                rule=TANK_LOW_LEVEL,
                limit=limit,
                hold=level.hold_seconds,
                hysteresis=level.hysteresis,
            )
    elif spec.role is Role.TEMPERATURE:
        cold = rules.tank_low_temperature
        return LowLimitPlan(
            *common,
            rule=TANK_LOW_TEMPERATURE,
            limit=cold.threshold if spec.low_limit is None else spec.low_limit,
            hold=cold.hold_seconds,
            hysteresis=cold.hysteresis,
        )
    return AnalogPlan(*common)


def _point(site: Site, device: DevicePlan, spec: PointSpec) -> PointPlan | None:
    role = spec.role
    subject = point_id(site.id, device.id, spec.name)
    label = spec.label or spec.name
    if role is Role.FACP_POINT and device.panel is not None:
        return FacpPointPlan(device.id, spec.name, subject, label, device.panel)
    if role is Role.FACP_SYSTEM and device.panel is not None:
        system = FacpSystemPlan(device.id, spec.name, subject, label, device.panel)
        device.panel.systems.append(system)
        return system
    pump = device.pump
    if role in _SIGNALS and pump is not None:
        signal = _SIGNALS[role]
        pump.signals.add(signal)
        plan = PumpSignalPlan(device.id, spec.name, subject, label, pump, signal)
        if signal is Signal.MODE:
            pump.mode_plan = plan
        return plan
    if role is Role.PUMP_ALARMS:
        if pump is not None:
            pump.alarm_words.append(spec.name)
        return PumpAlarmsPlan(
            device.id,
            spec.name,
            subject,
            label,
            pump=pump,
            power_flags=frozenset(device.rules.pump_power_fault.flags),
        )
    if spec.transmitter is not None or role in (Role.PRESSURE, Role.LEVEL, Role.TEMPERATURE):
        unit = spec.transmitter.unit if spec.transmitter is not None else spec.unit
        return _analog(device, spec, subject, label, unit)
    return None


def build_plans(site: Site) -> dict[str, DevicePlan]:
    plans: dict[str, DevicePlan] = {}
    for device in site.config.devices:
        rules = site.rules_for(device.id)
        specs = site.points.get(device.id, [])
        roles = {spec.role for spec in specs}
        plan = DevicePlan(
            id=device.id,
            name=device.name or device.id,
            subject=f"{site.id}/{device.id}",
            comm_limit=min(
                rules.comm_loss.intervals * device.poll_interval, rules.comm_loss.cap_seconds
            ),
            rules=rules,
            on=enabled_rules(rules),
            points={},
            alarm_points=frozenset(spec.name for spec in specs if spec.role in _ALARM_ROLES),
        )
        if not roles.isdisjoint(_PANEL_ROLES):
            plan.panel = Panel()
        if not roles.isdisjoint(_PUMP_ROLES):
            plan.pump = _pump(site, device, rules)
        for spec in specs:
            point = _point(site, plan, spec)
            if point is not None:
                plan.points[spec.name] = point
        plans[device.id] = plan
    return plans
