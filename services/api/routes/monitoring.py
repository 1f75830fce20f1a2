"""/monitoring: is the monitoring chain whole, as the API sees it from outside the rules service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.api.monitor import UNKNOWN, Monitor

__all__ = ["monitoring_status", "router"]

router = APIRouter(tags=["health"])


def monitoring_status(request: Request) -> dict[str, Any]:
    monitor: Monitor | None = request.app.state.monitor
    return UNKNOWN if monitor is None else monitor.status()


@router.get("/monitoring")
def monitoring(request: Request) -> dict[str, Any]:
    """`status` ok, down (then `message` says what to do) or unknown (no MQTT configured);
    the rules service, the broker and the gateways as heard."""
    return monitoring_status(request)
