"""/incidents: list, read and acknowledge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.api.deps import SiteScopeDep, StoreDep
from services.api.schemas import (
    AckRequest,
    IncidentDetailPublic,
    IncidentPublic,
    IncidentQuery,
    IncidentsPublic,
)
from services.incidents import Incident, IncidentNotFound, IncidentStore

__all__ = ["router"]

router = APIRouter(prefix="/incidents", tags=["incidents"])

# SQLite integers are 64-bit: a larger id would overflow in the driver, not just miss.
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="incident id")]
_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "no such incident"},
    409: {"description": "the incident's state does not allow this (e.g. already closed)"},
}


def _scoped(store: IncidentStore, incident_id: int, site: str | None) -> Incident:
    incident = store.get(incident_id)
    if site is not None and incident.site != site:
        raise IncidentNotFound(f"no incident {incident_id}")
    return incident


@router.get("")
def list_incidents(
    query: Annotated[IncidentQuery, Query()], store: StoreDep, site: SiteScopeDep
) -> IncidentsPublic:
    """Incidents matching every filter given, newest first."""
    open_only = bool(query.open)
    incidents = store.list(
        state=query.state,
        rule=query.rule,
        severity=query.severity,
        device=query.device,
        site=site,
        open_only=open_only,
        limit=query.limit,
        offset=query.offset,
    )
    total = store.count(
        state=query.state,
        rule=query.rule,
        severity=query.severity,
        device=query.device,
        site=site,
        open_only=open_only,
    )
    return IncidentsPublic(
        data=[IncidentPublic.of(incident) for incident in incidents],
        count=total,
        limit=query.limit,
        offset=query.offset,
    )


@router.get("/{incident_id}", responses={404: _ERRORS[404]})
def get_incident(
    incident_id: IncidentId, store: StoreDep, site: SiteScopeDep
) -> IncidentDetailPublic:
    """One incident with its full event history."""
    incident = _scoped(store, incident_id, site)
    return IncidentDetailPublic.with_events(incident, store.events(incident_id))


@router.post("/{incident_id}/ack", responses=_ERRORS)
def acknowledge(
    incident_id: IncidentId, body: AckRequest, store: StoreDep, site: SiteScopeDep
) -> IncidentDetailPublic:
    """Acknowledge an incident: active ones become acknowledged, cleared ones close."""
    _scoped(store, incident_id, site)
    change = store.acknowledge(incident_id, body.by, body.comment)
    return IncidentDetailPublic.with_events(change.incident, store.events(incident_id))
