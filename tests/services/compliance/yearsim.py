"""Months of a site in milliseconds: a compliance engine on a simulated clock, fed sparse
telemetry (hourly when idle, every minute while something happens) and ticked every hour, with
its incidents kept in a real incident store so tests can read what appeared and when."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fireroom.clock import SimulatedClock
from fireroom.config import Site
from fireroom.domain import Quality, Reading
from fireroom.obligations import EvidenceKind, ObligationSpec, Period, RunClass
from fireroom.telemetry import Telemetry
from services.compliance import (
    ComplianceEngine,
    ComplianceRegister,
    NewEvidence,
    RecordStore,
    Result,
    site_obligations,
)
from services.incidents import IncidentStore
from services.rules.transitions import Raise, Transition
from tests.services.compliance.sites import (
    CALL_POINT,
    CHURN_PRESSURE,
    DETECTORS,
    IDLE_PRESSURE,
    JOCKEY,
    PUMPS,
    pump_values,
    telemetry,
)

Action = Callable[["SiteRun"], None]
HOUR = 3600.0
FORMAT = "%Y-%m-%d %H:%M"


class SiteRun:
    """Plays scripted actions on a site, hour by hour, from `start` (local time)."""

    def __init__(self, site: Site, directory: Path, start: str = "2025-01-01 00:00") -> None:
        self.site = site
        self.zone = ZoneInfo(site.config.site.timezone)
        self.clock = SimulatedClock(self.ts(start))
        self.records = RecordStore(directory / "compliance.sqlite3", self.clock)
        self.incidents = IncidentStore(directory / "incidents.sqlite3", self.clock)
        self.obligations = site_obligations(site)
        self.engine = ComplianceEngine(site, self.obligations, self.clock, self.records)
        self.register = ComplianceRegister(site, self.records, self.clock, self.obligations)
        self.modes = dict.fromkeys([*PUMPS, JOCKEY], "auto")
        self.level_ok = True
        self._plan: list[tuple[float, int, Action]] = []
        self._order = itertools.count()
        self.tick()

    def close(self) -> None:
        self.records.close()
        self.incidents.close()

    def ts(self, local: str) -> float:
        return datetime.strptime(local, FORMAT).replace(tzinfo=self.zone).timestamp()

    def local(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.zone).strftime(FORMAT)

    def at(self, when: str, action: Action) -> None:
        heapq.heappush(self._plan, (self.ts(when), next(self._order), action))

    def run_until(self, end: str) -> None:
        """Play the plan up to `end`: idle telemetry and a tick on every hour (and at `end`)."""
        end_ts = self.ts(end)
        hour = self.clock.now()
        for _ in range(int((end_ts - hour) // HOUR) + 2):  # bounded: one pass per hour
            if hour >= end_ts:
                break
            following = min(hour - hour % HOUR + HOUR, end_ts)
            while self._plan and self._plan[0][0] < following:
                when, _, action = heapq.heappop(self._plan)
                self.clock.advance_to(max(when, self.clock.now()))
                action(self)
            self.clock.advance_to(max(following, self.clock.now()))
            hour = following
            self.idle()
            self.tick()

    def idle(self) -> None:
        now = self.clock.now()
        for pump, mode in self.modes.items():
            self.send(telemetry(pump, now, **pump_values(mode=mode)))
        panel = {point: ["normal"] for point in [*DETECTORS, CALL_POINT]}
        self.send(telemetry("facp-1", now, system_status=["normal"], **panel))
        quality = Quality.GOOD if self.level_ok else Quality.SENSOR_FAILED
        level = Reading("tank_level", 3.2 if self.level_ok else None, quality, 22.5)
        self.send(Telemetry(self.site.id, "ai-1", now, 0, [level]))

    def send(self, message: Telemetry) -> None:
        self.apply(self.engine.evaluate(message))

    def tick(self) -> None:
        self.apply(self.engine.tick())

    def apply(self, transitions: list[Transition]) -> None:
        for transition in transitions:
            if isinstance(transition, Raise):
                self.incidents.raise_incident(
                    site=self.site.id,
                    rule=transition.rule,
                    subject=transition.subject,
                    severity=transition.severity,
                    message=transition.message,
                    detail=transition.detail,
                    device=transition.device,
                    point=transition.point,
                )
            else:
                self.incidents.clear(transition.rule, transition.subject)

    def history(self) -> list[tuple[str, str, str, str, str]]:
        """Every incident event: (local time, event, rule, subject, severity after)."""
        out = []
        for incident in self.incidents.list(limit=10_000):
            subject = incident.subject.removeprefix(self.site.id)
            subject = subject[1:] if subject.startswith("/") else f"site{subject}"
            for event in self.incidents.events(incident.id):
                severity = str(event.data.get("severity", ""))
                out.append(
                    (self.local(event.at), event.kind.value, incident.rule, subject, severity)
                )
        return sorted(out)


def pump_run(
    device: str,
    minutes: int = 15,
    *,
    cause: str = "manual",
    peak: float = CHURN_PRESSURE,
    alarms: tuple[str, ...] = (),
    then: str = "auto",
    weekly: bool = False,
) -> Action:
    """A run sampled every minute: switched to manual first if a person starts it."""

    def act(run: SiteRun) -> None:
        mode = "manual" if cause == "manual" else "auto"
        run.send(telemetry(device, run.clock.now(), **pump_values(mode=mode)))
        for minute in range(minutes):
            pressure = IDLE_PRESSURE + (peak - IDLE_PRESSURE) * min(1.0, minute / 2)
            values = pump_values(
                running=True,
                mode=mode,
                cause=cause,
                weekly=weekly,
                pressure=pressure,
                alarms=alarms,
            )
            run.send(telemetry(device, run.clock.now(), **values))
            run.clock.advance(60)
        run.modes[device] = then
        run.send(telemetry(device, run.clock.now(), **pump_values(mode=then, alarms=alarms)))

    return act


def set_mode(device: str, mode: str) -> Action:
    def act(run: SiteRun) -> None:
        run.modes[device] = mode
        run.send(telemetry(device, run.clock.now(), **pump_values(mode=mode)))

    return act


def jockey_cycle(device: str = JOCKEY) -> Action:
    def act(run: SiteRun) -> None:
        for pressure in (0.55, 0.62, 0.70):
            values = pump_values(running=True, cause="demand", pressure=pressure)
            run.send(telemetry(device, run.clock.now(), **values))
            run.clock.advance(60)
        run.send(telemetry(device, run.clock.now(), **pump_values(pressure=0.70)))

    return act


def level_transmitter(ok: bool) -> Action:
    def act(run: SiteRun) -> None:
        run.level_ok = ok

    return act


def detector_test(point: str, *, fire: bool = False) -> Action:
    def act(run: SiteRun) -> None:
        flags = [["test"], ["test", "fire"]] if fire else [["test"], ["test"]]
        for state in [*flags, ["normal"]]:
            run.send(telemetry("facp-1", run.clock.now(), **{point: state}))
            run.clock.advance(60)

    return act


def manual(
    obligation: str,
    device: str | None = None,
    point: str | None = None,
    *,
    result: Result = Result.PASS,
    figures: dict[str, float] | None = None,
    note: str = "",
) -> Action:
    """A person records a test through the register (as the API does), then the engine looks."""

    def act(run: SiteRun) -> None:
        run.register.add(
            NewEvidence(
                obligation=obligation,
                device=device,
                point=point,
                result=result,
                performed_at=run.clock.now(),
                performed_by="inspector",
                figures=figures or {},
                note=note,
            )
        )
        # The API is another process: the engine reads new records on its next check.
        run.clock.advance(run.engine.check_interval)
        run.tick()

    return act


Skip = Callable[[str, str | None, str | None, str], bool]  # obligation, device, point, date


def _test_days(period: Period, year: int) -> list[datetime]:
    first = datetime(year, 1, 1)
    if period is Period.DAILY:
        return [first + timedelta(days=d) for d in range(365 + (year % 4 == 0))]
    if period is Period.WEEKLY:
        wednesday = first + timedelta(days=(2 - first.weekday()) % 7)
        return [
            wednesday + timedelta(weeks=w)
            for w in range(53)
            if (wednesday + timedelta(weeks=w)).year == year
        ]
    step = {Period.MONTHLY: 1, Period.QUARTERLY: 3, Period.HALF_YEARLY: 6, Period.YEARLY: 12}
    return [datetime(year, month, 10) for month in range(1, 13, step[period])]


def diligent(run: SiteRun, year: int = 2025, skip: Skip | None = None) -> None:
    """Plan the evidence every obligation needs in every period of `year`, less what `skip`
    leaves out: manual records at 11:00, pump runs at 10:00 (the controller's own test at
    14:00), jockey cycles at 09:00, and detector i tested on the 10th of month i + 1."""
    skip = skip or (lambda *_: False)
    for obligation in run.obligations:
        spec = obligation.spec
        for target in obligation.targets:
            device = target.device
            if spec.evidence is EvidenceKind.DETECTOR_TEST:
                for i, point in enumerate(target.points):
                    day = f"{year}-{i + 1:02d}-10"
                    if not skip(spec.id, device, point, day):
                        run.at(f"{day} 15:00", detector_test(point))
                continue
            if spec.evidence is EvidenceKind.READING:
                continue  # the hourly telemetry reads the points
            for day in _test_days(spec.period, year):
                date = day.strftime("%Y-%m-%d")
                if skip(spec.id, device, None, date):
                    continue
                run.at(*_evidence(spec, device, target.diesel, date))


def _evidence(
    spec: ObligationSpec, device: str | None, diesel: bool, date: str
) -> tuple[str, Action]:
    if spec.evidence is EvidenceKind.PUMP_RUN:
        assert device is not None
        if RunClass.MANUAL in spec.criteria.runs:
            return f"{date} 10:00", pump_run(device, 35 if diesel else 15)
        auto = pump_run(device, 3, cause="test", weekly=True, peak=IDLE_PRESSURE)
        return f"{date} 14:00", auto
    if spec.evidence is EvidenceKind.JOCKEY_CYCLE:
        assert device is not None
        return f"{date} 09:00", jockey_cycle(device)
    values: dict[str, Any] = dict.fromkeys(spec.figures, 1.0)
    return f"{date} 11:00", manual(spec.id, device, figures=values)
