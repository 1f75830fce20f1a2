"""Incident records as the store returns them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fireroom.domain import IncidentState, Severity

__all__ = ["EventKind", "Incident", "IncidentChange", "IncidentEvent", "iso_time"]


class EventKind(StrEnum):
    """What happened to an incident; one `incident_event` row each."""

    RAISED = "raised"
    RETRIGGERED = "retriggered"  # a cleared incident became active again
    UPDATED = "updated"  # still active, severity or detail changed
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    CLOSED = "closed"  # reserved for closing without ack (shelving, maintenance)
    SHELVED = "shelved"
    UNSHELVED = "unshelved"  # by hand, or when the shelving expired (no actor)


def iso_time(ts: float | None) -> str | None:
    """Unix seconds as ISO 8601 UTC, millisecond precision."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    site: str
    rule: str
    subject: str
    device: str | None
    point: str | None
    severity: Severity
    state: IncidentState
    message: str
    detail: dict[str, Any]
    raised_at: float
    last_triggered_at: float
    cleared_at: float | None
    acked_at: float | None
    acked_by: str | None
    ack_comment: str | None
    count: int

    @property
    def is_open(self) -> bool:
        return self.state is not IncidentState.CLOSED

    @property
    def is_active(self) -> bool:
        return self.state in (IncidentState.ACTIVE_UNACKED, IncidentState.ACTIVE_ACKED)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with ISO 8601 times (API and MQTT share it)."""
        return {
            "id": self.id,
            "site": self.site,
            "rule": self.rule,
            "subject": self.subject,
            "device": self.device,
            "point": self.point,
            "severity": self.severity.value,
            "state": self.state.value,
            "message": self.message,
            "detail": self.detail,
            "raised_at": iso_time(self.raised_at),
            "last_triggered_at": iso_time(self.last_triggered_at),
            "cleared_at": iso_time(self.cleared_at),
            "acked_at": iso_time(self.acked_at),
            "acked_by": self.acked_by,
            "ack_comment": self.ack_comment,
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    id: int
    incident_id: int
    at: float
    kind: EventKind
    actor: str | None
    comment: str | None
    state_after: IncidentState
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "incident_id": self.incident_id,
            "at": iso_time(self.at),
            "kind": self.kind.value,
            "actor": self.actor,
            "comment": self.comment,
            "state_after": self.state_after.value,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """The result of a store operation: the incident after it and what happened.

    `event` is None when a raise found the open incident already as reported (nothing written).
    """

    incident: Incident
    event: EventKind | None

    @property
    def changed(self) -> bool:
        return self.event is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": None if self.event is None else self.event.value,
            "incident": self.incident.to_dict(),
        }
