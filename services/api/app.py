"""The FastAPI application: `create_app` wires a store into the routers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fireroom.errors import StoreError
from services.api.limits import BodyLimit
from services.api.routes import health, incidents
from services.incidents import IncidentNotFound, IncidentStore, InvalidTransition

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"incident store unavailable: {exc}"}, status_code=503)


def create_app(store: IncidentStore, *, site_id: str | None = None) -> FastAPI:
    """The API over `store`; with `site_id`, only that site's incidents are visible."""
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
    app.add_middleware(BodyLimit)
    app.add_exception_handler(IncidentNotFound, _not_found)
    app.add_exception_handler(InvalidTransition, _conflict)
    app.add_exception_handler(StoreError, _unavailable)
    app.include_router(incidents.router, prefix=API_PREFIX)
    app.include_router(health.router, prefix=API_PREFIX)
    return app
