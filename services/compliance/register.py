"""The compliance register as the API sees it: each obligation's status from the record store,
and manual records checked against the obligation they are for."""

from __future__ import annotations

import math
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from fireroom.clock import Clock, SystemClock
from fireroom.config import Site
from fireroom.errors import FireroomError
from fireroom.obligation_binding import Obligation, Target, bind_site
from services.compliance.incidents import incident_subject
from services.compliance.records import EvidenceRecord, NewEvidence, RecordStore, Result, Source
from services.compliance.status import SubjectStatus, latest_by_item, subject_status, timeline

__all__ = [
    "ComplianceError",
    "ComplianceRegister",
    "RecordRejected",
    "UnknownObligation",
    "site_obligations",
]

FUTURE_SLACK = 300.0  # seconds a manual record may lie in the future (clocks disagree)


class ComplianceError(FireroomError):
    pass


class UnknownObligation(ComplianceError):
    """No obligation of this site has that id."""


class RecordRejected(ComplianceError):
    """A manual record that does not fit its obligation; the message says why."""


def site_obligations(site: Site) -> list[Obligation]:
    """The site's obligations, bound to its devices (validated already by `parse_site`)."""
    return bind_site(site)


class ComplianceRegister:
    """Obligations, their status and the records behind them, for one site.

    Args:
        site: the validated site.
        records: the record store the compliance engine writes too.
        clock: what "now" is for due dates.
        obligations: bound obligations; by default the site's own.
    """

    def __init__(
        self,
        site: Site,
        records: RecordStore,
        clock: Clock | None = None,
        obligations: Sequence[Obligation] | None = None,
    ) -> None:
        self.site = site
        self.records = records
        self.clock = clock or SystemClock()
        self.zone = ZoneInfo(site.config.site.timezone)
        self.obligations = list(site_obligations(site) if obligations is None else obligations)
        self._by_id = {obligation.id: obligation for obligation in self.obligations}

    def obligation(self, obligation_id: str) -> Obligation:
        try:
            return self._by_id[obligation_id]
        except KeyError:
            raise UnknownObligation(f"no obligation {obligation_id!r}") from None

    def statuses(self, obligation_id: str | None = None) -> list[SubjectStatus]:
        """Status of every subject (or of one obligation's), as of now."""
        chosen = self.obligations if obligation_id is None else [self.obligation(obligation_id)]
        now = self.clock.now()
        starts = self.records.starts(self.site.id)
        latest = latest_by_item(self.records.effective(self.site.id))
        out: list[SubjectStatus] = []
        for obligation in chosen:
            for target in obligation.targets:
                subject = incident_subject(self.site.id, obligation.id, target.device)
                # Not tracked yet (the rules service has not run): tracking starts now.
                started = starts.get((obligation.id, subject), now)
                timelines = {}
                for point in target.items:
                    item = latest.get((obligation.id, target.device, point))
                    passes = () if item is None else item.passes
                    timelines[point] = timeline(obligation.spec, passes, started, self.zone)
                out.append(
                    subject_status(
                        obligation,
                        target,
                        timelines=timelines,
                        latest=latest,
                        now=now,
                        zone=self.zone,
                    )
                )
        return out

    def add(self, record: NewEvidence) -> EvidenceRecord:
        """Check a manual record against its obligation and write it."""
        obligation = self.obligation(record.obligation)
        target = self._target(obligation, record.device)
        device = target.device
        if target.points:
            if record.point is None:
                raise RecordRejected(
                    f"{obligation.id} is tested point by point: give the point"
                    f" ({', '.join(target.points[:3])}, ...)"
                )
            if record.point not in target.points:
                raise RecordRejected(
                    f"{record.point!r} is not one of the points {obligation.id} covers on {device}"
                )
        elif record.point is not None:
            raise RecordRejected(f"{obligation.id} is not tested point by point: leave out point")
        if record.result is Result.VOID and record.corrects is None:
            raise RecordRejected("result 'void' withdraws a record: give 'corrects'")
        if record.result is Result.PASS:
            missing = [name for name in obligation.spec.figures if name not in record.figures]
            if missing:
                raise RecordRejected(
                    f"{obligation.id} needs the figures {obligation.spec.figures}; missing"
                    f" {missing}"
                )
        if any(not math.isfinite(value) for value in record.figures.values()):
            raise RecordRejected("figures must be finite numbers")
        if record.performed_at > self.clock.now() + FUTURE_SLACK:
            raise RecordRejected("performed_at lies in the future")
        checked = NewEvidence(
            obligation=obligation.id,
            device=device,
            point=record.point,
            result=record.result,
            performed_at=record.performed_at,
            performed_by=record.performed_by,
            source=Source.MANUAL,
            figures=dict(record.figures),
            note=record.note,
            corrects=record.corrects,
        )
        return self.records.add(self.site.id, checked)

    def _target(self, obligation: Obligation, device: str | None) -> Target:
        if device is None:
            if len(obligation.targets) == 1:
                return obligation.targets[0]
            choices = ", ".join(str(target.device) for target in obligation.targets)
            raise RecordRejected(
                f"{obligation.id} applies to several devices: give one of {choices}"
            )
        target = obligation.target(device)
        if target is None:
            if obligation.targets[0].device is None:
                raise RecordRejected(f"{obligation.id} applies to the site: leave out device")
            choices = ", ".join(str(target.device) for target in obligation.targets)
            raise RecordRejected(
                f"{obligation.id} does not apply to {device!r}; it does to {choices}"
            )
        return target
