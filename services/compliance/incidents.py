"""The two compliance rules, as the same Raise/Clear transitions the rules engine makes.

    missed_test   an item passed its due date plus grace with no passing record; minor, and
                  major once it has aged `escalate_after`; clears when evidence arrives
    failed_test   an item's latest record is a fail (a pump run that failed the credit checks,
                  or a person recording a failed test); major; clears with a passing record

Subjects are `site/device:obligation` (or `site:obligation` for the site as a whole), so each
obligation of a device has its own incident and the device's point incidents stay apart.
Messages and details depend only on records and dates, never on the time they are built, so
re-raising an unchanged condition writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from fireroom.domain import Severity
from services.compliance.status import ItemStatus, SubjectStatus
from services.rules.transitions import Raise

__all__ = [
    "COMPLIANCE_RULES",
    "FAILED_TEST",
    "MISSED_TEST",
    "failed_raise",
    "incident_subject",
    "local_iso",
    "missed_raise",
]

MISSED_TEST: Final = "missed_test"
FAILED_TEST: Final = "failed_test"
COMPLIANCE_RULES: Final = (MISSED_TEST, FAILED_TEST)
_LISTED = 5  # points named in a message; the detail lists them all


def incident_subject(site: str, obligation: str, device: str | None) -> str:
    return f"{site}/{device}:{obligation}" if device else f"{site}:{obligation}"


def local_iso(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).isoformat(timespec="seconds")


def _local(ts: float, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(ts, zone).strftime(fmt)


def _points(items: tuple[ItemStatus, ...]) -> tuple[list[str], str]:
    names = [item.point for item in items if item.point is not None]
    shown = ", ".join(names[:_LISTED]) + (
        f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    )
    return names, shown


def missed_raise(site: str, status: SubjectStatus, zone: ZoneInfo) -> Raise | None:
    missed = status.missed
    if not missed:
        return None
    spec, device = status.obligation.spec, status.target.device
    first = min(missed, key=lambda item: item.timeline.missed_at)
    line = first.timeline
    escalated = any(item.escalated for item in missed)
    # The last day of the period, as people say it: "due by 30 April".
    last_day = _local(line.due - 1, zone, "%Y-%m-%d")
    where = device or "site"
    detail: dict[str, Any] = {
        "obligation": spec.id,
        "title": spec.title,
        "period": spec.period.value,
        "due": local_iso(line.due, zone),
        "missed_at": local_iso(line.missed_at, zone),
        "escalates_at": local_iso(line.escalate_at, zone),
    }
    last = status.last_evidence
    detail["last_evidence"] = None if last is None else last.id
    if status.target.points:
        names, shown = _points(missed)
        detail["points"] = names
        message = (
            f"Missed test: {spec.title} ({where}): {len(names)} of {len(status.items)} points"
            f" without evidence by {last_day}: {shown}"
        )
    else:
        message = (
            f"Missed test: {spec.title} ({where}): none passed by {last_day},"
            f" grace ended {_local(line.missed_at, zone)}"
        )
    return Raise(
        MISSED_TEST,
        incident_subject(site, spec.id, device),
        Severity.MAJOR if escalated else Severity.MINOR,
        message,
        detail,
        device,
        None,
    )


def failed_raise(site: str, status: SubjectStatus, zone: ZoneInfo) -> Raise | None:
    failed = status.failed
    if not failed:
        return None
    spec, device = status.obligation.spec, status.target.device
    records = [item.latest.last for item in failed if item.latest.last is not None]
    reasons: list[str] = []
    for record in records:
        given = record.detail.get("reasons")
        if isinstance(given, list) and given:
            reasons.extend(str(reason) for reason in given)
        elif record.note:
            reasons.append(record.note)
    reasons = list(dict.fromkeys(reasons)) or ["recorded as failed"]
    newest = max(records, key=lambda record: record.performed_at)
    detail: dict[str, Any] = {
        "obligation": spec.id,
        "title": spec.title,
        "records": [record.id for record in records],
        "reasons": reasons,
        "performed_at": local_iso(newest.performed_at, zone),
    }
    where = device or "site"
    if status.target.points:
        names, shown = _points(failed)
        detail["points"] = names
        where = f"{where}: {shown}"
    return Raise(
        FAILED_TEST,
        incident_subject(site, spec.id, device),
        Severity.MAJOR,
        f"Failed test: {spec.title} ({where}): {'; '.join(reasons)}",
        detail,
        device,
        None,
    )
