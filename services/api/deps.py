"""Dependencies the routes receive; the app holds them in `app.state`, set by `create_app`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fireroom.clock import Clock
from services.api.changes import Changes
from services.incidents import IncidentStore

__all__ = ["ChangesDep", "ClockDep", "SiteScopeDep", "StoreDep"]


def get_store(request: Request) -> IncidentStore:
    store: IncidentStore = request.app.state.store
    return store


def get_site_scope(request: Request) -> str | None:
    """The one site this API serves, or None for every site in the store."""
    site: str | None = request.app.state.site_id
    return site


StoreDep = Annotated[IncidentStore, Depends(get_store)]
SiteScopeDep = Annotated[str | None, Depends(get_site_scope)]


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]


def get_changes(request: Request) -> Changes:
    changes: Changes = request.app.state.changes
    return changes


# Routes that write incidents wake the event streams with it.
ChangesDep = Annotated[Changes, Depends(get_changes)]
