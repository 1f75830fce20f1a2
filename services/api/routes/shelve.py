"""/incidents/{id}/shelve and /unshelve: hide an alarm for a while, with who and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fireroom.clock import Clock
from services.api.auth import require
from services.api.deps import ChangesDep, ClockDep, SiteScopeDep, StoreDep
from services.api.routes.incidents import IncidentId, scoped
from services.api.schemas import IncidentDetailPublic
from services.auth import Permission, User

__all__ = ["router"]

router = APIRouter(prefix="/incidents", tags=["incidents"])
Operator = Annotated[User, Depends(require(Permission.OPERATE))]
_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "no such incident"},
    409: {"description": "a fire alarm, or a state that cannot be shelved/unshelved"},
}


class ShelveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    minutes: Annotated[int, Field(ge=1, le=1440)]


def _until(clock: Clock, minutes: int) -> float:
    return clock.now() + minutes * 60


@router.post("/{incident_id}/shelve", responses=_ERRORS)
def shelve(
    *,
    incident_id: IncidentId,
    body: ShelveRequest,
    store: StoreDep,
    site: SiteScopeDep,
    clock: ClockDep,
    user: Operator,
    changes: ChangesDep,
    request: Request,
) -> IncidentDetailPublic:
    """Shelve for `minutes`; it returns to its previous state at expiry. Fire alarms and
    monitoring incidents: 409; a fire alarm panel's supervision beyond the site's limit: 409."""
    scoped(store, incident_id, site)
    change = store.shelve(incident_id, user.username, body.reason, _until(clock, body.minutes),
                          request.app.state.shelving)
    changes.notify()
    return IncidentDetailPublic.with_events(
        change.incident, store.events(incident_id), store.shelves(site).get(incident_id)
    )


@router.post("/{incident_id}/unshelve", responses=_ERRORS)
def unshelve(
    incident_id: IncidentId, store: StoreDep, site: SiteScopeDep, user: Operator,
    changes: ChangesDep,
) -> IncidentDetailPublic:
    scoped(store, incident_id, site)
    change = store.unshelve(incident_id, user.username)
    changes.notify()
    return IncidentDetailPublic.with_events(change.incident, store.events(incident_id))
