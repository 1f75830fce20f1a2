"""The rules engine: telemetry in, incident transitions out. Pure: no I/O, time from a clock.

Fire-safety stance: a reading whose quality is comm_lost, bad or stale says nothing about the
condition behind it, so it never clears an active incident and never raises a value-based one;
a transmitter's out-of-range value raises nothing either. Only comm_loss and the sensor health
rules look at quality itself. Hold times and durations run on the messages' `ts`; comm_loss
measures time without a readable message on `clock.monotonic()`, because silence brings no
messages. Unreadable is as lost as silent: a device is alive only while every alarm point it
reports (panel status words, pump alarms and running) is `good`.

The rules themselves live by topic: panel.py (fire, pre-alarm, faults, isolation and manual on
the panel), pump.py, pressure.py, tank.py and sensor.py; build.py decides which apply where.
"""

from __future__ import annotations

from collections.abc import KeysView, Mapping
from typing import Any, Final

from fireroom.clock import Clock
from fireroom.config import Site
from fireroom.domain import Quality, Severity
from fireroom.telemetry import Telemetry
from services.rules.build import build_plans
from services.rules.isolation import Isolation
from services.rules.plan import DevicePlan, PointPlan, Scan, SiteState
from services.rules.transitions import COMM_LOSS, Clear, Raise, Transition

__all__ = ["RulesEngine"]

_COMM_LOST: Final = Quality.COMM_LOST
_STALE: Final = Quality.STALE
_GOOD: Final = Quality.GOOD
_LISTED_POINTS: Final = 20  # unreadable points named in a comm_loss incident's detail


class RulesEngine:
    """Evaluates a site's rules over its telemetry stream.

    Args:
        site: the validated site; which rules apply to which point is computed once here.
        clock: `monotonic()` measures comm_loss silence; value hold times use message `ts`.
    """

    def __init__(self, site: Site, clock: Clock) -> None:
        self.site = site
        self._clock = clock
        self._state = SiteState()
        self._devices = build_plans(site)
        self._subjects: dict[str, PointPlan] = {
            plan.subject: plan
            for device in self._devices.values()
            for plan in device.points.values()
        }
        self._by_subject: dict[str, DevicePlan] = {
            device.subject: device for device in self._devices.values()
        }
        # Until a pump's running point is read, whether it runs is unknown.
        for device in self._devices.values():
            if device.pump is not None and device.pump.reports_running:
                self._state.unknown.add(device.id)
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
        device = self._by_subject.get(subject)
        if device is not None:
            if rule == COMM_LOSS:
                device.comm_active = True
                return True
            return device.pump is not None and device.pump.restore(rule, detail or {})
        plan = self._subjects.get(subject)
        return plan is not None and plan.restore(rule, detail or {})

    def isolations(self) -> list[Isolation]:
        """The isolation register: every disabled panel point and system, longest first."""
        entries: list[Isolation] = []
        for device in self._devices.values():
            if device.panel is not None:
                entries.extend(device.panel.isolations(device.points))
        return sorted(
            entries, key=lambda e: (e.since is None, e.since or 0.0, e.subject)
        )

    def tick(self, outage_since: float | None = None) -> list[Transition]:
        """Time-based rules: devices not alive for longer than their comm_loss limit.

        `outage_since`: the `clock.monotonic()` since which the caller is cut from the devices'
        telemetry (a broker outage), or None; silence then names the outage.
        """
        now = self._clock.monotonic()
        out: list[Transition] = []
        for device in self._devices.values():
            silent = now - device.last_good
            if not device.comm_active and silent >= device.comm_limit:
                device.comm_active = True
                if device.pump is not None and device.pump.reports_running:
                    # A lost controller's pump may be running: no longer "all pumps stopped".
                    self._state.unknown.add(device.id)
                    self._state.quiet_since = None
                if COMM_LOSS in device.on:
                    out.append(self._comm_loss(device, now, outage_since))
        return out

    def _comm_loss(self, device: DevicePlan, now: float, outage_since: float | None) -> Raise:
        # A panel that cannot report is a panel whose fire nobody would hear of.
        severity = Severity.CRITICAL if device.panel is not None else Severity.MAJOR
        limit = device.comm_limit
        detail: dict[str, Any] = {"limit_seconds": limit}
        heard = device.last_heard
        if device.unreadable and heard is not None and now - heard < limit:
            names = [name for name in device.points if name in device.unreadable]
            names += sorted(device.unreadable.difference(names))
            detail = {"reason": "unreadable", "points": names[:_LISTED_POINTS]} | detail
            message = (
                f"Cannot read {len(device.unreadable)} of {len(device.alarm_points)} alarm"
                f" points of {device.name} for {limit:g} s"
            )
        else:
            message = f"No data from {device.name} for {limit:g} s"
            if outage_since is not None:
                outage = max(0.0, now - outage_since)
                detail["monitoring_outage_seconds"] = round(outage, 1)
                message += f" (monitoring cut from the MQTT broker for {outage:.0f} s)"
        return Raise(COMM_LOSS, device.subject, severity, message, detail, device.id, None)

    def evaluate(self, telemetry: Telemetry) -> list[Transition]:
        device = self._devices.get(telemetry.device)
        if device is None or telemetry.site != self.site.id:
            return []
        scan = Scan(device, self._state, telemetry.ts)
        points = device.points
        alarm_points = device.alarm_points
        unreadable = device.unreadable
        # A partial message (report by exception) comes only from a device that answered, and
        # leaves points it does not carry as they were; a complete one says what can be read.
        usable = telemetry.full is False
        if not usable:
            unreadable.clear()
        for reading in telemetry.readings:
            quality = reading.quality
            if quality is not _GOOD:
                if reading.point in alarm_points:
                    unreadable.add(reading.point)
                if not usable:
                    usable = quality is not _COMM_LOST and quality is not _STALE
            else:
                usable = True
                if unreadable:
                    unreadable.discard(reading.point)
            plan = points.get(reading.point)
            if plan is not None:
                plan.observe(reading, scan)
        if device.panel is not None:
            device.panel.finish(scan)
        if device.pump is not None:
            device.pump.finish(scan)
        out = scan.out
        now = self._clock.monotonic()
        device.last_heard = now
        # Answering is not enough: a device whose alarm points cannot be read (an exception
        # code, a refused block) could be in fire without anyone knowing.
        if usable and not unreadable:
            device.last_good = now
            if device.comm_active:
                device.comm_active = False
                if COMM_LOSS in device.on:
                    out.insert(0, Clear(COMM_LOSS, device.subject))
        return out
