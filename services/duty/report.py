"""The handover report: what the incoming operator takes over, built from the live records.

A signed handover keeps this report as it was at signing, so the record shows what was handed
over even after incidents close.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fireroom.domain import IncidentState
from fireroom.shifts import Shift
from services.compliance import ComplianceRegister
from services.compliance.status import State
from services.incidents import Incident, IncidentStore
from services.rules.transitions import COMM_LOSS, ISOLATION, SYSTEM_IN_MANUAL

__all__ = ["build_report", "local"]

_DUE = (State.DUE_SOON, State.OVERDUE, State.FAILED)


def local(ts: float | None, zone: ZoneInfo) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, zone).isoformat(timespec="seconds")


def _brief(incident: Incident, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": incident.id,
        "rule": incident.rule,
        "subject": incident.subject,
        "severity": incident.severity.value,
        "state": incident.state.value,
        "message": incident.message,
        "raised_at": local(incident.raised_at, zone),
        "cleared_at": local(incident.cleared_at, zone),
        "acked_by": incident.acked_by,
    }


def build_report(
    *,
    site: str,
    shift: Shift,
    now: float,
    zone: ZoneInfo,
    incidents: IncidentStore,
    register: ComplianceRegister | None,
    on_duty: list[str],
) -> dict[str, Any]:
    """The handover draft for `shift` as of `now`."""
    open_ = incidents.open_incidents(site)
    recent = incidents.list(site=site, limit=10_000)
    end = min(shift.end, now)

    def during(ts: float | None) -> bool:
        return ts is not None and shift.start <= ts < end

    def of_rule(rule: str) -> list[dict[str, Any]]:
        return [
            _brief(incident, zone) for incident in open_
            if incident.rule == rule and incident.state is not IncidentState.CLEARED_UNACKED
        ]

    # Shelved supervision of a fire alarm panel: a panel nobody is sure can still report a fire,
    # listed apart so the incoming operator knows until when.
    shelves = incidents.shelves(site)
    shelved_supervision = [
        {**_brief(incident, zone), "until": local(shelves[incident.id].until, zone),
         "shelved_by": shelves[incident.id].shelved_by, "reason": shelves[incident.id].reason}
        for incident in open_
        if incident.id in shelves and shelves[incident.id].panel_supervision
    ]
    tests: list[dict[str, Any]] = []
    if register is not None:
        tests = [
            {
                "obligation": status.obligation.id,
                "title": status.obligation.spec.title,
                "device": status.target.device,
                "state": status.state.value,
                "due": local(status.due, zone),
            }
            for status in register.statuses()
            if status.state in _DUE
        ]
    return {
        "site": site,
        "shift_start": local(shift.start, zone),
        "shift_end": local(shift.end, zone),
        "generated_at": local(now, zone),
        "on_duty": on_duty,
        "open_incidents": [_brief(incident, zone) for incident in open_],
        "raised_during_shift": [_brief(i, zone) for i in recent if during(i.raised_at)],
        "cleared_during_shift": [_brief(i, zone) for i in recent if during(i.cleared_at)],
        "isolations": of_rule(ISOLATION),
        "systems_in_manual": of_rule(SYSTEM_IN_MANUAL),
        "devices_offline": of_rule(COMM_LOSS),
        "shelved_supervision": shelved_supervision,
        "tests_due": tests,
    }
