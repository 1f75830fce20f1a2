"""Fire and jockey pump controllers.

A controller's running, demand, start and mode points are read into its `Pump`, judged once per
scan after every point was seen:

- `pump_fail_to_start` (critical, subject `site/device`): demand or a start signal, and no run
  within the start timeout (30 s up to 132 kW, 55 s above), or the controller's own
  `fail_to_start` flag. Clears when the pump runs, or the demand is gone and the flag is reset.
- `system_in_manual` (major, subject the mode point): the selector in manual or off for longer
  than the limit. A pump running by hand in manual is attended, so the time counts from when it
  stops; only the selector back in auto clears the incident.
- `jockey_short_cycling` (minor, subject `site/device`, jockey pumps only): more starts in the
  last hour than the limit, or one run longer than the limit.

The controller's alarm words split into `pump_power_fault` (critical: supply, phase and control
voltage flags) and `device_fault` (the rest), so one condition is one incident; their
`fail_to_start` flag feeds `pump_fail_to_start`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final

from fireroom.config import RulesConfig
from fireroom.domain import Quality, Reading, Severity
from services.rules.plan import ON, Active, Hold, PointPlan, Scan
from services.rules.transitions import (
    DEVICE_FAULT,
    JOCKEY_SHORT_CYCLING,
    PUMP_FAIL_TO_START,
    PUMP_POWER_FAULT,
    SYSTEM_IN_MANUAL,
)

__all__ = ["Pump", "PumpAlarmsPlan", "PumpSignalPlan", "Signal"]

_GOOD: Final = Quality.GOOD
_MANUAL_MODES: Final = frozenset({"manual", "off"})
_FAIL_TO_START: Final = "fail_to_start"
# Device faults that stop the pump from running at all.
_CRITICAL_FAULTS: Final = frozenset({"locked_rotor"})
_HOUR: Final = 3600.0
_NO_RUN: Final = "no_run"  # reasons behind a fail-to-start incident
_CONTROLLER: Final = "controller"
_STARTS: Final = "starts"  # reasons behind a short-cycling incident
_LONG_RUN: Final = "long_run"


class Signal(IntEnum):
    RUNNING = 1
    DEMAND = 2
    START = 3
    MODE = 4


@dataclass(slots=True, eq=False, kw_only=True)
class Pump:
    """What one controller reports, and the state of its pump rules."""

    device: str
    subject: str
    name: str
    rules: RulesConfig
    jockey: bool
    start_timeout: float
    signals: set[Signal] = field(default_factory=set)  # the points this controller has
    alarm_words: list[str] = field(default_factory=list)
    mode_plan: PumpSignalPlan | None = None
    # Last good values; None while unknown (not read yet, or the last reading was not good).
    running: bool | None = None
    demand: bool | None = None
    start: bool | None = None
    mode: str | None = None
    seen: bool = False  # a signal was read in this scan
    was_running: bool | None = None  # the last known running state before this scan
    wanted_since: float | None = None  # demand or start without a run, since (message ts)
    no_run: bool = False
    fts_flags: set[str] = field(default_factory=set)  # alarm words reporting fail_to_start
    fts: Active = None
    manual: Hold = field(default_factory=Hold)
    manual_mode: str | None = None
    run_since: float | None = None
    starts: deque[float] = field(default_factory=deque)  # jockey starts in the last hour
    cycling: Active = None
    # The start history is complete from here: after a restart it is not, and a restored
    # short-cycling incident is kept for an hour rather than cleared for lack of evidence.
    history_from: float | None = -math.inf

    @property
    def reports_running(self) -> bool:
        return Signal.RUNNING in self.signals

    def fail_to_start_flag(self, word: str, on: bool) -> None:
        if on:
            self.fts_flags.add(word)
        else:
            self.fts_flags.discard(word)
        self.seen = True

    def finish(self, scan: Scan) -> None:
        """Judge this scan's signals together."""
        if not self.seen:
            return
        self.seen = False
        ts = scan.ts
        running = self.running
        started = False
        if self.reports_running:
            scan.site.pump_state(self.device, running, ts)
            if running is True:
                started = self.was_running is False
                if self.run_since is None or started or ts < self.run_since:
                    self.run_since = ts
            elif running is False:
                self.run_since = None
            if running is not None:
                self.was_running = running
        if self.jockey:
            self._count_start(started, ts, scan)
        on = scan.on
        if PUMP_FAIL_TO_START in on:
            self._fail_to_start(running, ts, scan)
        if SYSTEM_IN_MANUAL in on and self.mode is not None and self.mode_plan is not None:
            self._manual(self.mode, running, ts, scan)
        if self.jockey and JOCKEY_SHORT_CYCLING in on:
            self._cycling(running, ts, scan)

    def _fail_to_start(self, running: bool | None, ts: float, scan: Scan) -> None:
        wanted: list[bool | None] = []
        if Signal.DEMAND in self.signals:
            wanted.append(self.demand)
        if Signal.START in self.signals:
            wanted.append(self.start)
        if running is True:
            self.wanted_since, self.no_run = None, False
        elif running is False and True in wanted:
            if self.wanted_since is None or ts < self.wanted_since:
                self.wanted_since = ts
            # Once raised it holds until the pump runs or the demand goes away.
            self.no_run = self.no_run or ts - self.wanted_since >= self.start_timeout
        elif wanted and all(value is False for value in wanted):
            self.wanted_since, self.no_run = None, False
        reasons = set()
        if self.no_run:
            reasons.add(_NO_RUN)
        if self.fts_flags:
            reasons.add(_CONTROLLER)
        signature = frozenset(reasons) or None
        if signature == self.fts:
            return
        self.fts = signature
        if signature is None:
            scan.clear(PUMP_FAIL_TO_START, self.subject)
            return
        if _NO_RUN in signature:
            why = f"demand for more than {self.start_timeout:g} s and not running"
        else:
            why = "the controller reports fail to start"
        scan.raise_device(
            PUMP_FAIL_TO_START,
            Severity.CRITICAL,
            f"Pump failed to start: {self.name} ({self.subject}): {why}",
            {"reasons": sorted(signature), "timeout_seconds": self.start_timeout},
        )

    def _manual(self, mode: str, running: bool | None, ts: float, scan: Scan) -> None:
        assert self.mode_plan is not None
        plan = self.mode_plan
        after = self.rules.system_in_manual.after_seconds
        manual = mode in _MANUAL_MODES
        change = self.manual.step(manual and running is not True, not manual, ts, after)
        if change is False:
            self.manual_mode = None
            scan.clear(SYSTEM_IN_MANUAL, plan.subject)
            return
        if change is True or (self.manual.active and manual and mode != self.manual_mode):
            self.manual_mode = mode
            scan.raise_(
                SYSTEM_IN_MANUAL,
                plan,
                Severity.MAJOR,
                f"Pump controller in {mode} for more than {after / 60:g} min: {plan.where}",
                {"since": self.manual.since, "mode": mode},
            )

    def _count_start(self, started: bool, ts: float, scan: Scan) -> None:
        starts = self.starts
        if starts and ts < starts[-1]:
            starts.clear()  # the clock went back: the history no longer lines up
        limit = self.rules.jockey_short_cycling.max_starts_per_hour
        if started:
            scan.site.jockey_starts += 1
            starts.append(ts)
            # Only whether the limit is passed matters: keep at most one start more than it.
            while len(starts) > limit + 1:
                starts.popleft()
        while starts and ts - starts[0] >= _HOUR:
            starts.popleft()

    def _cycling(self, running: bool | None, ts: float, scan: Scan) -> None:
        rule = self.rules.jockey_short_cycling
        active = self.cycling or frozenset()
        if self.history_from is None:
            self.history_from = ts
        count = len(self.starts)
        reasons = set()
        if count > rule.max_starts_per_hour or (
            _STARTS in active
            and (
                count > rule.max_starts_per_hour - rule.hysteresis_starts
                or ts - self.history_from < _HOUR
            )
        ):
            reasons.add(_STARTS)
        if running is True and self.run_since is not None:
            if ts - self.run_since >= rule.max_run_seconds:
                reasons.add(_LONG_RUN)
        elif running is None and _LONG_RUN in active:
            reasons.add(_LONG_RUN)  # unknown is not stopped
        signature = frozenset(reasons) or None
        if signature == self.cycling:
            return
        self.cycling = signature
        if signature is None:
            scan.clear(JOCKEY_SHORT_CYCLING, self.subject)
            return
        parts = []
        if _STARTS in signature:
            parts.append(f"{count} starts in the last hour (limit {rule.max_starts_per_hour})")
        if _LONG_RUN in signature:
            parts.append(f"running for more than {rule.max_run_seconds / 60:g} min")
        scan.raise_device(
            JOCKEY_SHORT_CYCLING,
            Severity.MINOR,
            f"Jockey pump short cycling: {self.name} ({self.subject}): {'; '.join(parts)}",
            {"reasons": sorted(signature), "starts_last_hour": count},
        )

    def restore(self, rule: str, detail: Mapping[str, Any]) -> bool:
        reasons = detail.get("reasons")
        given = frozenset(str(r) for r in reasons) if isinstance(reasons, list) else frozenset()
        if rule == PUMP_FAIL_TO_START:
            self.fts = given or frozenset({_NO_RUN})
            self.no_run = _NO_RUN in self.fts
            if _CONTROLLER in self.fts:
                # Believed until each alarm word has been read without the flag.
                self.fts_flags = set(self.alarm_words)
            return True
        if rule == JOCKEY_SHORT_CYCLING and self.jockey:
            self.cycling = given or frozenset({_STARTS})
            self.history_from = None
            return True
        return False

    def restore_manual(self, detail: Mapping[str, Any]) -> None:
        self.manual.active = True
        since, mode = detail.get("since"), detail.get("mode")
        if isinstance(since, (int, float)):
            self.manual.since = float(since)
        self.manual_mode = mode if isinstance(mode, str) else None


@dataclass(slots=True, eq=False)
class PumpSignalPlan(PointPlan):
    """A running, demand, start or mode point: read into its pump, judged with the scan."""

    pump: Pump
    signal: Signal

    def observe(self, reading: Reading, scan: Scan) -> None:
        pump = self.pump
        pump.seen = True
        value = reading.value if reading.quality is _GOOD else None
        signal = self.signal
        if signal is Signal.MODE:
            pump.mode = value if isinstance(value, str) else None
            return
        known = value if isinstance(value, bool) else None
        if signal is Signal.RUNNING:
            pump.running = known
        elif signal is Signal.DEMAND:
            pump.demand = known
        else:
            pump.start = known

    def restore(self, rule: str, detail: Mapping[str, Any]) -> bool:
        if rule == SYSTEM_IN_MANUAL and self.signal is Signal.MODE:
            self.pump.restore_manual(detail)
            return True
        return False


@dataclass(slots=True, eq=False, kw_only=True)
class PumpAlarmsPlan(PointPlan):
    """A controller alarm flags word: power faults, other faults, and fail to start."""

    pump: Pump | None
    power_flags: frozenset[str]
    fault: Active = None
    power: Active = None
    fts: bool = False

    def observe(self, reading: Reading, scan: Scan) -> None:
        if reading.quality is not _GOOD:
            return
        flags = reading.value
        if not isinstance(flags, list):
            return
        if not flags and self.fault is None and self.power is None and not self.fts:
            if self.pump is not None:
                self.pump.fail_to_start_flag(self.name, False)
            return
        power = self.power_flags.intersection(flags) or None
        fts = _FAIL_TO_START in flags
        rest = frozenset(f for f in flags if f not in self.power_flags and f != _FAIL_TO_START)
        fault = rest or None
        on = scan.on
        if DEVICE_FAULT in on and fault != self.fault:
            self.fault = fault
            if fault is None:
                scan.clear(DEVICE_FAULT, self.subject)
            else:
                names = sorted(fault)
                critical = not fault.isdisjoint(_CRITICAL_FAULTS)
                scan.raise_(
                    DEVICE_FAULT,
                    self,
                    Severity.CRITICAL if critical else Severity.MAJOR,
                    f"Device fault: {self.where}: {', '.join(names)}",
                    {"flags": names},
                )
        if PUMP_POWER_FAULT in on and power != self.power:
            self.power = power
            if power is None:
                scan.clear(PUMP_POWER_FAULT, self.subject)
            else:
                names = sorted(power)
                scan.raise_(
                    PUMP_POWER_FAULT,
                    self,
                    Severity.CRITICAL,
                    f"Pump power fault: {self.where}: {', '.join(names)}",
                    {"flags": names},
                )
        self.fts = fts
        if self.pump is not None:
            self.pump.fail_to_start_flag(self.name, fts)

    def restore(self, rule: str, detail: Mapping[str, Any]) -> bool:
        flags = detail.get("flags")
        signature = (
            frozenset(str(f) for f in flags) if isinstance(flags, list) and flags else ON
        )
        if rule == DEVICE_FAULT:
            self.fault = signature
        elif rule == PUMP_POWER_FAULT:
            self.power = signature
        else:
            return False
        return True
