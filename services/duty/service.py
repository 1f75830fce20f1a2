"""The duty service: 2-hourly status entries, duty-log gaps, shelving expiry, handovers.

It runs in the API process (the operators' process: without it nobody is on duty anyway) as
one task that ticks every minute; signing and accepting handovers are its methods so that the
HTTP routes and the tick share one set of rules.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fireroom.clock import Clock
from fireroom.domain import Severity
from fireroom.errors import StoreError
from fireroom.shifts import Shift, ShiftsConfig, shift_at
from services.compliance import ComplianceRegister
from services.duty.report import build_report, local
from services.duty.store import DutyStore, Handover, LogEntry
from services.incidents import IncidentStore, InvalidTransition
from services.rules.transitions import ISOLATION

__all__ = [
    "DUTY_LOG_GAP",
    "HANDOVER_OVERDUE",
    "DutyError",
    "DutyService",
    "HandoverConflict",
    "HandoverNotFound",
    "MissingAcknowledgements",
]

log = logging.getLogger(__name__)
DUTY_LOG_GAP = "duty_log_gap"
HANDOVER_OVERDUE = "handover_overdue"
_MUST_ACK = (Severity.CRITICAL, Severity.MAJOR)


class DutyError(StoreError):
    """Base of the duty service's refusals."""


class HandoverConflict(DutyError):
    """Already signed or accepted, or the signer tried to accept their own handover."""


class MissingAcknowledgements(DutyError):
    """Accepting needs every open critical and major incident acknowledged."""

    def __init__(self, missing: list[int]) -> None:
        super().__init__(
            "accepting the handover takes over every open critical and major incident:"
            f" acknowledge incidents {missing} too"
        )
        self.missing = missing


class HandoverNotFound(DutyError):
    """No handover has that id."""


@dataclass
class DutyService:
    """Args: the site, its shifts and zone, the duty and incident stores, and the clock."""

    site: str
    zone: ZoneInfo
    shifts: ShiftsConfig
    duty: DutyStore
    incidents: IncidentStore
    clock: Clock
    register: ComplianceRegister | None = None
    tick_seconds: float = 60.0

    async def run(self) -> None:
        while True:
            try:
                self.tick()
            except StoreError:
                log.exception("duty check failed; retrying in %.0f s", self.tick_seconds)
            await self.clock.sleep(self.tick_seconds)

    def tick(self) -> None:
        self.incidents.expire_shelves()
        self._status_entry()
        self._handover_deadline()

    # -- duty log -------------------------------------------------------------------------

    def status(self) -> tuple[str, dict[str, Any]]:
        """Equipment status as the 2-hourly entry states it: open incidents by rule/severity."""
        open_ = self.incidents.open_incidents(self.site)
        by_severity = Counter(incident.severity.value for incident in open_)
        systems = sorted({
            f"{incident.subject}: {incident.rule} ({incident.state.value})"
            for incident in open_ if incident.rule != ISOLATION
        })
        isolated = sorted(incident.subject for incident in open_ if incident.rule == ISOLATION)
        data = {
            "open_incidents": len(open_),
            "by_severity": dict(sorted(by_severity.items())),
            "systems": systems,
            "isolations": isolated,
        }
        text = (
            f"Status: {len(open_)} open incidents"
            + "".join(f", {count} {name}" for name, count in sorted(by_severity.items()))
            + f"; {len(isolated)} isolations."
            + ("" if systems else " All systems normal.")
        )
        return text, data

    def _status_entry(self) -> None:
        now = self.clock.now()
        every = self.shifts.status_every_minutes * 60
        last = self.duty.last_status_at()
        if last is not None and now - last < every:
            return
        gap_from = last if last is not None else self.duty.created_at
        subject = f"{self.site}/duty-log"
        if now - gap_from > every + 2 * self.tick_seconds:
            # The service was not running: the record has a hole an inspector will see.
            self.incidents.raise_incident(
                site=self.site, rule=DUTY_LOG_GAP, subject=subject, severity=Severity.MINOR,
                message=f"No duty log status entry since {local(gap_from, self.zone)}",
                detail={"since": local(gap_from, self.zone)},
            )
        text, data = self.status()
        self.duty.log(now, "status", text, None, data)
        self.incidents.clear(DUTY_LOG_GAP, subject)

    def note(self, author: str, text: str) -> LogEntry:
        return self.duty.log(self.clock.now(), "note", text, author)

    # -- handovers ------------------------------------------------------------------------

    def _handed_over(self, shift_end: float) -> Handover | None:
        found = self.duty.handovers(shift_end=shift_end)
        return found[0] if found else None

    def handover_shift(self) -> Shift:
        """The shift a handover now is for: the one just ended while it is not signed (even
        when overdue), else the current one (the outgoing operator signs near its end)."""
        current = shift_at(self.shifts, self.clock.now(), self.zone)
        if current.start > self.duty.created_at and self._handed_over(current.start) is None:
            return shift_at(self.shifts, current.start - 1, self.zone)
        return current

    def draft(self) -> dict[str, Any]:
        return build_report(
            site=self.site,
            shift=self.handover_shift(),
            now=self.clock.now(),
            zone=self.zone,
            incidents=self.incidents,
            register=self.register,
            on_duty=[presence.username for presence in self.duty.on_duty()],
        )

    def sign(self, by: str, notes: str) -> Handover:
        shift = self.handover_shift()
        report = self.draft()
        try:
            return self.duty.sign(shift.start, shift.end, self.clock.now(), by, notes, report)
        except sqlite3.IntegrityError as exc:
            raise HandoverConflict(
                f"the shift ending {local(shift.end, self.zone)} was handed over already"
            ) from exc

    def handover(self, handover_id: int) -> Handover:
        found = self.duty.handovers(handover_id=handover_id)
        if not found:
            raise HandoverNotFound(f"no handover {handover_id}")
        return found[0]

    def accept(self, handover_id: int, by: str, notes: str, acknowledged: list[int]) -> Handover:
        """The incoming operator takes over, acknowledging every open critical/major incident."""
        handover = self.handover(handover_id)
        if handover.acceptance is not None:
            raise HandoverConflict(f"handover {handover_id} was accepted already")
        if handover.signed_by == by:
            raise HandoverConflict("the incoming operator accepts, not the one who signed")
        must = [
            incident for incident in self.incidents.open_incidents(self.site)
            if incident.severity in _MUST_ACK
        ]
        missing = sorted(incident.id for incident in must if incident.id not in acknowledged)
        if missing:
            raise MissingAcknowledgements(missing)
        comment = f"taken over at handover {handover_id}"
        for incident in must:
            try:
                self.incidents.acknowledge(incident.id, by, comment)
            except InvalidTransition:
                continue  # acknowledged already: taking it over needs nothing more
        try:
            self.duty.accept(handover_id, self.clock.now(), by, notes, acknowledged)
        except sqlite3.IntegrityError as exc:
            raise HandoverConflict(f"handover {handover_id} was accepted already") from exc
        self.incidents.clear(HANDOVER_OVERDUE, self._overdue_subject(handover.shift_end))
        return self.handover(handover_id)

    def _overdue_subject(self, shift_end: float) -> str:
        return f"{self.site}/handover/{local(shift_end, self.zone)}"

    def _handover_deadline(self) -> None:
        now = self.clock.now()
        change = shift_at(self.shifts, now, self.zone).start
        if change <= self.duty.created_at:
            return
        subject = self._overdue_subject(change)
        handover = self._handed_over(change)
        if handover is not None and handover.acceptance is not None:
            self.incidents.clear(HANDOVER_OVERDUE, subject)
            return
        if now >= change + self.shifts.handover_within_minutes * 60:
            self.incidents.raise_incident(
                site=self.site, rule=HANDOVER_OVERDUE, subject=subject, severity=Severity.MAJOR,
                message=f"No accepted handover for the shift ending {local(change, self.zone)}",
                detail={"shift_end": local(change, self.zone),
                        "signed": handover is not None},
            )
