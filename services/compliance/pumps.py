"""Pump runs as test evidence: follow a controller's runs and judge each against DOMAIN.md §3.

A test run is credited when the pump ran continuously for the minimum time, the discharge
pressure rose (to churn pressure minus tolerance, or by a minimum over its value before the
start), no fail-to-start or phase alarm was raised, and the controller was back in AUTO
afterwards. Otherwise the run is recorded as failed, with its reasons. Which runs are tests at
all depends on what started them (`criteria.runs`): a real demand is not a test.

Times are the telemetry's own `ts`, so a run is judged the same live and in a replay. Only good
readings count: a lost reading neither ends a run nor starts one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from fireroom.domain import PointValue, Quality
from fireroom.obligation_binding import Obligation, Target
from fireroom.obligations import RunClass
from fireroom.points import PointSpec, Role
from fireroom.telemetry import Telemetry
from services.compliance.records import AUTOMATIC, NewEvidence, Result, Source

__all__ = ["JockeyWatch", "PumpPoints", "PumpWatch"]

ELECTRIC_MINUTES: Final = 10.0
DIESEL_MINUTES: Final = 30.0
CAUSE_POINT: Final = "start_cause"
AUTO_TEST_POINT: Final = "weekly_test_running"
JOCKEY_PRESSURE: Final = "discharge_pressure"
_CAUSES: Final = {
    "test": RunClass.AUTO_TEST,
    "manual": RunClass.MANUAL,
    "remote": RunClass.MANUAL,
    "demand": RunClass.DEMAND,
}

Credited = Callable[[tuple[str, str | None, str | None], float], bool]


@dataclass(frozen=True, slots=True)
class PumpPoints:
    """Where a controller keeps what a run is judged on."""

    running: str
    mode: str | None
    alarms: tuple[str, ...]

    @classmethod
    def of(cls, points: list[PointSpec]) -> PumpPoints:
        def named(role: Role) -> list[str]:
            return [point.name for point in points if point.role is role]

        running = named(Role.PUMP_RUNNING)
        mode = named(Role.PUMP_MODE)
        return cls(running[0], mode[0] if mode else None, tuple(named(Role.PUMP_ALARMS)))


def _good(telemetry: Telemetry) -> dict[str, PointValue]:
    return {r.point: r.value for r in telemetry.readings if r.quality is Quality.GOOD}


def _number(value: PointValue) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass(slots=True)
class _Run:
    started: float
    before: dict[str, float]  # pressures just before the start
    causes: set[RunClass] = field(default_factory=set)
    peaks: dict[str, float] = field(default_factory=dict)
    first: dict[str, float] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    ended: float = 0.0

    @property
    def run_class(self) -> RunClass:
        for cls in (RunClass.AUTO_TEST, RunClass.MANUAL, RunClass.DEMAND):
            if cls in self.causes:
                return cls
        return RunClass.UNKNOWN

    def sample(self, values: dict[str, PointValue], pressures: dict[str, float]) -> None:
        if values.get(AUTO_TEST_POINT) is True:
            self.causes.add(RunClass.AUTO_TEST)
        cause = values.get(CAUSE_POINT)
        if isinstance(cause, str) and cause in _CAUSES:
            self.causes.add(_CAUSES[cause])
        for name, value in pressures.items():
            self.first.setdefault(name, value)
            self.peaks[name] = max(value, self.peaks.get(name, value))


class _RunFollower:
    """Starts and ends runs from the running bit; keeps pressures seen before a start."""

    def __init__(self, device: str, points: PumpPoints, pressures: set[str]) -> None:
        self.device = device
        self.points = points
        self.pressures = pressures
        self.run: _Run | None = None
        self.before: dict[str, float] = {}
        # A run already going when we first hear of the pump (after a restart, say) has an
        # unknown start, so it is not judged: it would look too short.
        self.seen_stopped = False

    def follow(self, telemetry: Telemetry) -> tuple[dict[str, PointValue], _Run | None]:
        """The good values of this message, and the run it ended, if any."""
        values = _good(telemetry)
        pressures = {
            name: number
            for name in self.pressures
            if (number := _number(values.get(name))) is not None
        }
        flags = {
            flag
            for name in self.points.alarms
            if isinstance(alarm := values.get(name), list)
            for flag in alarm
        }
        running = values.get(self.points.running)
        ended: _Run | None = None
        if running is True:
            if self.run is None and self.seen_stopped:
                self.run = _Run(telemetry.ts, dict(self.before))
            if self.run is not None:
                self.run.sample(values, pressures)
                self.run.flags |= flags
        elif running is False:
            self.seen_stopped = True
            if self.run is not None:
                self.run.flags |= flags
                self.run.ended = telemetry.ts
                ended, self.run = self.run, None
            self.before.update(pressures)
        return values, ended


class PumpWatch:
    """Judges each finished run of one controller for the pump_run obligations that count it."""

    def __init__(
        self, device: str, points: PumpPoints, duties: list[tuple[Obligation, Target]]
    ) -> None:
        self.device = device
        self.points = points
        self.duties = duties
        self._follower = _RunFollower(
            device, points, {o.spec.criteria.pressure_point for o, _ in duties}
        )
        self._pending: _Run | None = None  # ended, waiting for the controller to be in AUTO
        self._wait = max(
            (o.spec.criteria.auto_within_minutes * 60 for o, _ in duties if self._needs_auto(o)),
            default=0.0,
        )

    def _needs_auto(self, obligation: Obligation) -> bool:
        return obligation.spec.criteria.require_auto and self.points.mode is not None

    def observe(self, telemetry: Telemetry) -> list[NewEvidence]:
        values, ended = self._follower.follow(telemetry)
        mode = values.get(self.points.mode) if self.points.mode else "auto"
        out: list[NewEvidence] = []
        pending = self._pending
        if pending is not None:
            if mode == "auto":
                out += self._judge(pending, telemetry.ts, None)
            elif self._follower.run is not None or telemetry.ts - pending.ended >= self._wait:
                out += self._judge(pending, None, mode)
        if ended is not None:
            if mode == "auto" or self._wait == 0:
                out += self._judge(ended, telemetry.ts, None)
            else:
                self._pending = ended
        return out

    def _judge(self, run: _Run, in_auto_at: float | None, mode: PointValue) -> list[NewEvidence]:
        self._pending = None
        out: list[NewEvidence] = []
        for obligation, target in self.duties:
            criteria = obligation.spec.criteria
            if run.run_class not in criteria.runs:
                continue
            reasons = self._reasons(obligation, target, run, in_auto_at, mode)
            name = criteria.pressure_point
            figures = {"run_minutes": round((run.ended - run.started) / 60, 2)}
            for label, source in (("peak_pressure", run.peaks), ("pressure_before", run.before)):
                if name in source:
                    figures[label] = source[name]
            detail: dict[str, Any] = {
                "reasons": reasons,
                "run_class": run.run_class.value,
                "started": run.started,
                "ended": run.ended,
                "back_in_auto_at": in_auto_at,
                "alarms": sorted(run.flags),
            }
            out.append(
                NewEvidence(
                    obligation=obligation.id,
                    device=self.device,
                    point=None,
                    result=Result.FAIL if reasons else Result.PASS,
                    performed_at=run.started,
                    performed_by=AUTOMATIC,
                    source=Source.TELEMETRY,
                    figures=figures,
                    note="; ".join(reasons),
                    detail=detail,
                )
            )
        return out

    def _reasons(
        self,
        obligation: Obligation,
        target: Target,
        run: _Run,
        in_auto_at: float | None,
        mode: PointValue,
    ) -> list[str]:
        criteria = obligation.spec.criteria
        reasons: list[str] = []
        minimum = criteria.min_run_minutes
        if minimum is None:
            minimum = DIESEL_MINUTES if target.diesel else ELECTRIC_MINUTES
        minutes = (run.ended - run.started) / 60
        if minutes < minimum:
            reasons.append(f"ran {minutes:.1f} min, less than the {minimum:g} min required")
        if criteria.check_pressure:
            name = criteria.pressure_point
            peak, before = run.peaks.get(name), run.before.get(name, run.first.get(name))
            if peak is None:
                reasons.append(f"no good {name} reading during the run")
            elif criteria.churn_pressure is not None:
                need = criteria.churn_pressure - criteria.pressure_tolerance
                if peak < need:
                    reasons.append(
                        f"{name} peaked at {peak:.2f} MPa, below {need:.2f} MPa"
                        f" (churn {criteria.churn_pressure:g} - {criteria.pressure_tolerance:g})"
                    )
            elif before is not None and peak - before < criteria.min_pressure_rise:
                reasons.append(
                    f"{name} rose only {peak - before:.2f} MPa ({before:.2f} to {peak:.2f}),"
                    f" less than {criteria.min_pressure_rise:g} MPa"
                )
        alarms = sorted(run.flags.intersection(criteria.fail_flags))
        if alarms:
            reasons.append(f"alarm during the run: {', '.join(alarms)}")
        if self._needs_auto(obligation):
            window = criteria.auto_within_minutes * 60
            if in_auto_at is None or in_auto_at - run.ended > window:
                left = mode if isinstance(mode, str) else "not auto"
                reasons.append(
                    f"controller left in {left}: not back in AUTO within"
                    f" {criteria.auto_within_minutes:g} min of the run"
                )
        return reasons


class JockeyWatch:
    """Credits a jockey pump's daily check with its first complete start and stop each period."""

    def __init__(
        self, device: str, points: PumpPoints, duties: list[Obligation], credited: Credited
    ) -> None:
        self.device = device
        self.duties = duties
        self._credited = credited
        self._follower = _RunFollower(device, points, {JOCKEY_PRESSURE})

    def observe(self, telemetry: Telemetry) -> list[NewEvidence]:
        _, run = self._follower.follow(telemetry)
        if run is None:
            return []
        figures = {"run_seconds": round(run.ended - run.started, 1)}
        # It started at the lowest pressure around the start: the reading before it, or the
        # first while running when the poll caught it a moment late.
        around = [
            pressures[JOCKEY_PRESSURE]
            for pressures in (run.before, run.first)
            if JOCKEY_PRESSURE in pressures
        ]
        if around:
            figures["start_pressure"] = min(around)
        if JOCKEY_PRESSURE in run.peaks:
            figures["stop_pressure"] = run.peaks[JOCKEY_PRESSURE]
        return [
            NewEvidence(
                obligation=obligation.id,
                device=self.device,
                point=None,
                result=Result.PASS,
                performed_at=run.ended,
                performed_by=AUTOMATIC,
                source=Source.TELEMETRY,
                figures=figures,
                detail={"started": run.started, "ended": run.ended},
            )
            for obligation in self.duties
            if not self._credited((obligation.id, self.device, None), run.ended)
        ]
