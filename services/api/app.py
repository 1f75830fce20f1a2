"""The FastAPI application: `create_app` wires a store into the routers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from fireroom.clock import Clock, SystemClock
from fireroom.errors import StoreError
from services.api.auth import AuditTrail, current_user
from services.api.changes import Changes
from services.api.limits import BodyLimit
from services.api.routes import auth as auth_routes
from services.api.routes import compliance as compliance_routes
from services.api.routes import devices, events, health, incidents, monitoring
from services.api.routes import duty as duty_routes
from services.api.routes import handovers as handover_routes
from services.api.routes import shelve as shelve_routes
from services.api.routes import users as user_routes
from services.auth import LoginLimiter, UserStore
from services.incidents import IncidentNotFound, IncidentStore, InvalidTransition
from services.incidents.shelving import ShelvingPolicy

if TYPE_CHECKING:
    from fireroom.config import Site
    from services.api.monitor import Monitor
    from services.compliance import ComplianceRegister
    from services.duty import DutyService

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"
# The operator console: static files only, so it works on a control-room LAN with no internet.
CONSOLE_DIR = Path(__file__).resolve().parent / "console"


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"incident store unavailable: {exc}"}, status_code=503)


def create_app(
    store: IncidentStore,
    *,
    site_id: str | None = None,
    compliance: ComplianceRegister | None = None,
    users: UserStore,
    duty: DutyService | None = None,
    clock: Clock | None = None,
    monitor: Monitor | None = None,
    changes: Changes | None = None,
    event_poll: float = events.POLL,
    site: Site | None = None,
) -> FastAPI:
    """The API over `store`; with `site_id`, only that site's incidents are visible.

    `compliance` (the site's obligations and test records) serves /obligations and
    /test-records; without it those answer 503. `users` holds accounts, sessions and the
    audit trail: every API route but /health and /auth/login needs a session. `duty` (shifts,
    duty log, handovers) serves /duty and /handovers; without it those answer 503. `monitor`
    (the API's broker connection) serves /monitoring and wakes `changes`, which the event
    streams wait on between reads every `event_poll` seconds; without it monitoring is unknown.
    `site` (its config) sets the limits on shelving a fire alarm panel's supervision.
    """
    app = FastAPI(
        title="fireroom",
        summary="Fire control room incidents",
        version="1",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.store = store
    app.state.site_id = site_id
    app.state.compliance = compliance
    app.state.users = users
    app.state.duty = duty
    app.state.clock = clock or SystemClock()
    app.state.monitor = monitor
    app.state.changes = changes or (monitor.changes if monitor is not None else Changes())
    app.state.event_poll = event_poll
    app.state.shelving = None if site is None else ShelvingPolicy.of(site)
    app.state.login_limiter = LoginLimiter(app.state.clock)
    app.add_middleware(AuditTrail, users=users)
    app.add_middleware(BodyLimit)
    app.add_exception_handler(IncidentNotFound, _not_found)
    app.add_exception_handler(InvalidTransition, _conflict)
    app.add_exception_handler(StoreError, _unavailable)
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(auth_routes.router, prefix=API_PREFIX)
    logged_in = [Depends(current_user)]
    for router in (
        incidents.router,
        monitoring.router,
        shelve_routes.router,
        compliance_routes.router,
        events.router,
        devices.router,
        user_routes.router,
        duty_routes.router,
        handover_routes.router,
    ):
        app.include_router(router, prefix=API_PREFIX, dependencies=logged_in)
    app.add_api_route("/", _to_console, include_in_schema=False)
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    return app


async def _to_console() -> RedirectResponse:
    return RedirectResponse("/console/")
