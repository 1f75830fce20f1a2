"""The compliance engine: telemetry and test records in, missed_test and failed_test out.

It runs beside the rules engine in the rules service, fed the same telemetry and ticked on the
same cadence, and its transitions go to the same incident store. Evidence it finds in telemetry
(a credited pump run, a detector test) is written to the record store at once; records people
add through the API (another process) are picked up by `tick()` every `check_interval`.

The first refresh states every subject's condition, raises and clears alike, so a restarted
service clears an incident whose evidence arrived while it was down; after that only changes
are reported.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from fireroom.clock import Clock
from fireroom.config import Site
from fireroom.errors import StoreError
from fireroom.obligation_binding import Obligation, Target
from fireroom.obligations import EvidenceKind
from fireroom.telemetry import Telemetry
from services.compliance.incidents import (
    FAILED_TEST,
    MISSED_TEST,
    failed_raise,
    incident_subject,
    missed_raise,
)
from services.compliance.pointwatch import DetectorWatch, ReadingWatch
from services.compliance.pumps import Credited, JockeyWatch, PumpPoints, PumpWatch
from services.compliance.records import (
    EvidenceRecord,
    NewEvidence,
    RecordNotFound,
    RecordStore,
    Result,
)
from services.compliance.status import (
    ItemKey,
    Latest,
    SubjectStatus,
    Timeline,
    latest_by_item,
    subject_status,
    timeline,
)
from services.rules.transitions import Clear, Raise, Transition

__all__ = ["ComplianceEngine"]

log = logging.getLogger(__name__)

Watcher = PumpWatch | JockeyWatch | DetectorWatch | ReadingWatch


@dataclass(slots=True, eq=False)
class _Subject:
    obligation: Obligation
    target: Target
    subject: str
    started: float = 0.0
    timelines: dict[str | None, Timeline] = field(default_factory=dict)
    wake_at: float = -math.inf  # when its incidents may next change without a new record

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.obligation.id, self.target.device)


def _watchers(
    site: Site, obligations: Sequence[Obligation], credited: Credited
) -> dict[str, list[Watcher]]:
    pumps: dict[str, list[tuple[Obligation, Target]]] = {}
    jockeys: dict[str, list[Obligation]] = {}
    detectors: dict[str, dict[str, list[Obligation]]] = {}
    readings: dict[str, dict[str, list[Obligation]]] = {}
    for obligation in obligations:
        kind = obligation.spec.evidence
        for target in obligation.targets:
            device = target.device
            if device is None:
                continue
            if kind is EvidenceKind.PUMP_RUN:
                pumps.setdefault(device, []).append((obligation, target))
            elif kind is EvidenceKind.JOCKEY_CYCLE:
                jockeys.setdefault(device, []).append(obligation)
            elif kind in (EvidenceKind.DETECTOR_TEST, EvidenceKind.READING):
                into = detectors if kind is EvidenceKind.DETECTOR_TEST else readings
                per_point = into.setdefault(device, {})
                for point in target.points:
                    per_point.setdefault(point, []).append(obligation)
    out: dict[str, list[Watcher]] = {}
    for device, duties in pumps.items():
        out.setdefault(device, []).append(PumpWatch(device, _points(site, device), duties))
    for device, jockey in jockeys.items():
        watch = JockeyWatch(device, _points(site, device), jockey, credited)
        out.setdefault(device, []).append(watch)
    for device, points in detectors.items():
        out.setdefault(device, []).append(DetectorWatch(device, points))
    for device, points in readings.items():
        out.setdefault(device, []).append(ReadingWatch(device, points, credited))
    return out


def _points(site: Site, device: str) -> PumpPoints:
    return PumpPoints.of(site.points[device])


class ComplianceEngine:
    """Evaluates a site's test obligations.

    Args:
        site: the validated site (its time zone sets the calendar).
        obligations: the site's bound obligations (`services.compliance.site_obligations`).
        clock: `now()` decides due dates and escalation; runs are timed by message `ts`.
        records: where evidence is written and read back.
        check_interval: seconds between looks for records other processes wrote.
    """

    def __init__(
        self,
        site: Site,
        obligations: Sequence[Obligation],
        clock: Clock,
        records: RecordStore,
        *,
        check_interval: float = 10.0,
    ) -> None:
        self.site = site
        self.zone = ZoneInfo(site.config.site.timezone)
        self._clock = clock
        self._records = records
        self.check_interval = check_interval
        self._obligations = {obligation.id: obligation for obligation in obligations}
        self._subjects: dict[tuple[str, str | None], _Subject] = {}
        for obligation in obligations:
            for target in obligation.targets:
                subject = incident_subject(site.id, obligation.id, target.device)
                self._subjects[(obligation.id, target.device)] = _Subject(
                    obligation, target, subject
                )
        starts = records.track(
            site.id, [(s.obligation.id, s.subject) for s in self._subjects.values()], clock.now()
        )
        # The id first: a record written in between is then read twice, never missed.
        self._last_id = records.last_id(site.id)
        self._latest: dict[ItemKey, Latest] = latest_by_item(records.effective(site.id))
        for state in self._subjects.values():
            state.started = starts[(state.obligation.id, state.subject)]
            self._retime(state)
        self._emitted: dict[tuple[str, str], Raise | None] = {}
        self._watchers = _watchers(site, obligations, self._credited)
        self._next_check = -math.inf

    @property
    def records(self) -> RecordStore:
        return self._records

    @property
    def devices(self) -> Iterable[str]:
        """Devices whose telemetry can be evidence."""
        return self._watchers.keys()

    def statuses(self) -> list[SubjectStatus]:
        """Every subject's status now, in obligation order."""
        now = self._clock.now()
        return [self._status(state, now) for state in self._subjects.values()]

    def evaluate(self, telemetry: Telemetry) -> list[Transition]:
        watchers = self._watchers.get(telemetry.device)
        if watchers is None or telemetry.site != self.site.id:
            return []
        found: list[NewEvidence] = []
        for watcher in watchers:
            found += watcher.observe(telemetry)
        if not found:
            return []
        affected = self._write(found)
        return self._refresh(
            (self._subjects[key] for key in affected if key in self._subjects), self._clock.now()
        )

    def tick(self) -> list[Transition]:
        """Due dates passing, escalations, and records other processes wrote."""
        now = self._clock.now()
        affected: set[tuple[str, str | None]] = set()
        if now >= self._next_check:
            self._next_check = now + self.check_interval
            try:
                affected = self._absorb(self._records.after(self.site.id, self._last_id))
            except StoreError:
                log.exception("compliance[%s]: cannot read test records", self.site.id)
        due = [s for s in self._subjects.values() if s.key in affected or now >= s.wake_at]
        return self._refresh(due, now)

    def _credited(self, key: ItemKey, ts: float) -> bool:
        """Would a pass at `ts` cover nothing new (its period is covered already)?"""
        state = self._subjects.get((key[0], key[1]))
        if state is None:
            return True
        line = state.timelines.get(key[2])
        return line is None or ts < line.open_from

    def _write(self, found: list[NewEvidence]) -> set[tuple[str, str | None]]:
        for evidence in found:
            try:
                record = self._records.add(self.site.id, evidence)
            except StoreError:
                log.exception("compliance[%s]: could not record %s", self.site.id, evidence)
                continue
            log.log(
                logging.WARNING if record.result is Result.FAIL else logging.INFO,
                "test record %d: %s %s %s %s",
                record.id,
                record.obligation,
                record.subject,
                record.result.value,
                record.note,
            )
        try:
            return self._absorb(self._records.after(self.site.id, self._last_id))
        except StoreError:
            log.exception("compliance[%s]: cannot read test records", self.site.id)
            return set()

    def _absorb(self, records: list[EvidenceRecord]) -> set[tuple[str, str | None]]:
        affected: set[tuple[str, str | None]] = set()
        reload: set[ItemKey] = set()
        for record in records:
            self._last_id = max(self._last_id, record.id)
            affected.add((record.obligation, record.device))
            if record.corrects is None:
                self._latest[record.key] = self._latest.get(record.key, Latest()).adding(record)
                continue
            reload.add(record.key)
            with contextlib.suppress(RecordNotFound):
                reload.add(self._records.get(record.corrects).key)
        if reload:
            for item in reload:
                self._latest.pop(item, None)
                affected.add((item[0], item[1]))
            self._latest.update(latest_by_item(self._records.effective(self.site.id, reload)))
        for subject in affected:
            state = self._subjects.get(subject)
            if state is not None:
                self._retime(state)
        return affected

    def _retime(self, state: _Subject) -> None:
        spec, device = state.obligation.spec, state.target.device
        for point in state.target.items:
            latest = self._latest.get((spec.id, device, point))
            passes = () if latest is None else latest.passes
            state.timelines[point] = timeline(spec, passes, state.started, self.zone)
        state.wake_at = -math.inf

    def _status(self, state: _Subject, now: float) -> SubjectStatus:
        return subject_status(
            state.obligation,
            state.target,
            timelines=state.timelines,
            latest=self._latest,
            now=now,
            zone=self.zone,
        )

    def _refresh(self, subjects: Iterable[_Subject], now: float) -> list[Transition]:
        out: list[Transition] = []
        for state in subjects:
            status = self._status(state, now)
            for rule, made in (
                (MISSED_TEST, missed_raise(self.site.id, status, self.zone)),
                (FAILED_TEST, failed_raise(self.site.id, status, self.zone)),
            ):
                key = (rule, state.subject)
                if key in self._emitted and self._emitted[key] == made:
                    continue
                self._emitted[key] = made
                out.append(made if made is not None else Clear(rule, state.subject))
            upcoming = [
                moment
                for line in state.timelines.values()
                for moment in (line.missed_at, line.escalate_at)
                if moment > now
            ]
            state.wake_at = min(upcoming, default=math.inf)
        return out
