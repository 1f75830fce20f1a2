"""/health: is the API up, can it read the incident store, is the monitoring chain whole."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from fireroom.errors import StoreError
from services.api.deps import SiteScopeDep, StoreDep
from services.api.routes.monitoring import monitoring_status
from services.api.schemas import HealthPublic

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"model": HealthPublic}})
def health(
    store: StoreDep, site: SiteScopeDep, request: Request, response: Response
) -> HealthPublic:
    """503 when the store is unreadable, or while the rules service or the broker is gone or
    the rules service reports it is failing: a control room must not trust a quiet board then."""
    chain = monitoring_status(request)
    watching = chain["message"] if chain["status"] == "down" else chain["status"]
    try:
        store.ping()
        open_incidents = store.count(open_only=True, site=site)
    except StoreError as exc:
        response.status_code = 503
        return HealthPublic(status="degraded", database=f"error: {exc}", open_incidents=None,
                            monitoring=watching)
    if chain["status"] == "down":
        response.status_code = 503
        return HealthPublic(status="degraded", database="ok", open_incidents=open_incidents,
                            monitoring=watching)
    return HealthPublic(status="ok", database="ok", open_incidents=open_incidents,
                        monitoring=watching)
