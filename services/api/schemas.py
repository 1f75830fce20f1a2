"""Request and response bodies, kept apart from the store's dataclasses."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fireroom.domain import IncidentState, Severity
from services.incidents import Incident, IncidentEvent, iso_time
from services.incidents.shelving import Shelf

__all__ = [
    "AckRequest",
    "HealthPublic",
    "IncidentDetailPublic",
    "IncidentEventPublic",
    "IncidentPublic",
    "IncidentQuery",
    "IncidentsPublic",
    "ShelfPublic",
]

IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class ShelfPublic(BaseModel):
    """A shelving in force; `panel_supervision`: a fire alarm panel's supervision, shown apart."""

    shelved_at: IsoTime
    until: IsoTime
    shelved_by: str
    reason: str
    panel_supervision: bool

    @classmethod
    def of(cls, shelf: Shelf | None) -> ShelfPublic | None:
        if shelf is None:
            return None
        return cls(shelved_at=iso_time(shelf.shelved_at) or "", until=iso_time(shelf.until) or "",
                   shelved_by=shelf.shelved_by, reason=shelf.reason,
                   panel_supervision=shelf.panel_supervision)


class IncidentPublic(BaseModel):
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
    raised_at: IsoTime
    last_triggered_at: IsoTime
    cleared_at: IsoTime | None
    acked_at: IsoTime | None
    acked_by: str | None
    ack_comment: str | None
    count: int
    shelf: ShelfPublic | None = None

    @classmethod
    def of(cls, incident: Incident, shelf: Shelf | None = None) -> IncidentPublic:
        return cls.model_validate({**incident.to_dict(), "shelf": ShelfPublic.of(shelf)})


class IncidentEventPublic(BaseModel):
    id: int
    at: IsoTime
    kind: str
    actor: str | None
    comment: str | None
    state_after: IncidentState
    data: dict[str, Any]

    @classmethod
    def of(cls, event: IncidentEvent) -> IncidentEventPublic:
        return cls.model_validate(event.to_dict())


class IncidentDetailPublic(IncidentPublic):
    events: list[IncidentEventPublic]

    @classmethod
    def with_events(
        cls, incident: Incident, events: list[IncidentEvent], shelf: Shelf | None = None
    ) -> IncidentDetailPublic:
        return cls.model_validate({
            **incident.to_dict(), "shelf": ShelfPublic.of(shelf),
            "events": [event.to_dict() for event in events],
        })


class IncidentsPublic(BaseModel):
    data: list[IncidentPublic]
    count: int = Field(description="incidents matching the filters, ignoring limit and offset")
    limit: int
    offset: int


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Who acknowledges is the logged-in user; an old client's `by` must name that user.
    by: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = None
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class IncidentQuery(BaseModel):
    """Filters of GET /incidents; every one given must match."""

    state: IncidentState | None = None
    rule: Annotated[str | None, Field(max_length=64, pattern=r"^[a-z0-9_]+$")] = None
    severity: Severity | None = None
    device: Annotated[str | None, Field(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")] = None
    open: Annotated[bool | None, Field(description="true: only incidents not closed")] = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    # Bounded so the value always fits SQLite's 64-bit integers.
    offset: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0


class HealthPublic(BaseModel):
    status: str
    database: str
    open_incidents: int | None
    # ok, unknown (this API watches no broker), or what is down and what to do.
    monitoring: str = "unknown"
