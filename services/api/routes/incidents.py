"""/incidents: list, read and acknowledge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from services.api.auth import require
from services.api.deps import ChangesDep, SiteScopeDep, StoreDep
from services.api.schemas import (
    AckRequest,
    IncidentDetailPublic,
    IncidentPublic,
    IncidentQuery,
    IncidentsPublic,
)
from services.auth import Permission, User
from services.incidents import Incident, IncidentNotFound, IncidentStore

__all__ = ["router", "scoped"]

router = APIRouter(prefix="/incidents", tags=["incidents"])

# SQLite integers are 64-bit: a larger id would overflow in the driver, not just miss.
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="incident id")]
_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "no such incident"},
    409: {"description": "the incident's state does not allow this (e.g. already closed)"},
}


def scoped(store: IncidentStore, incident_id: int, site: str | None) -> Incident:
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
    shelves = store.shelves(site)
    return IncidentsPublic(
        data=[IncidentPublic.of(incident, shelves.get(incident.id)) for incident in incidents],
        count=total,
        limit=query.limit,
        offset=query.offset,
    )


@router.get("/{incident_id}", responses={404: _ERRORS[404]})
def get_incident(
    incident_id: IncidentId, store: StoreDep, site: SiteScopeDep
) -> IncidentDetailPublic:
    """One incident with its full event history."""
    incident = scoped(store, incident_id, site)
    return IncidentDetailPublic.with_events(
        incident, store.events(incident_id), store.shelves(site).get(incident_id)
    )


@router.post("/{incident_id}/ack", responses=_ERRORS)
def acknowledge(
    *,
    incident_id: IncidentId,
    body: AckRequest,
    store: StoreDep,
    site: SiteScopeDep,
    user: Annotated[User, Depends(require(Permission.OPERATE))],
    changes: ChangesDep,
) -> IncidentDetailPublic:
    """Acknowledge an incident as the logged-in user: active ones become acknowledged,
    cleared ones close. A `by` naming someone else is refused (422)."""
    if body.by is not None and body.by != user.username:
        raise HTTPException(
            422, f"'by' is {body.by!r} but you are logged in as {user.username!r}; omit 'by'"
        )
    scoped(store, incident_id, site)
    change = store.acknowledge(incident_id, user.username, body.comment)
    changes.notify()
    return IncidentDetailPublic.with_events(change.incident, store.events(incident_id))
