"""/health: is the API up and can it read the incident store."""

from __future__ import annotations

from fastapi import APIRouter, Response

from fireroom.errors import StoreError
from services.api.deps import SiteScopeDep, StoreDep
from services.api.schemas import HealthPublic

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"model": HealthPublic}})
def health(store: StoreDep, site: SiteScopeDep, response: Response) -> HealthPublic:
    try:
        store.ping()
        open_incidents = store.count(open_only=True, site=site)
    except StoreError as exc:
        response.status_code = 503
        return HealthPublic(status="degraded", database=f"error: {exc}", open_incidents=None)
    return HealthPublic(status="ok", database="ok", open_incidents=open_incidents)
