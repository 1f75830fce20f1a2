"""/devices: the site's devices, each online or lost by its open comm_loss incident.

Status is derived from the incident store rather than from MQTT status messages, so the API
needs no broker connection and agrees with the incident board by construction.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from services.api.deps import StoreDep
from services.compliance import ComplianceRegister
from services.rules.transitions import COMM_LOSS

__all__ = ["DevicePublic", "DevicesPublic", "router"]

router = APIRouter(tags=["devices"])


class DevicePublic(BaseModel):
    id: str
    name: str
    kind: str
    profile: str
    address: str
    poll_interval: float
    status: str  # "online" or "lost"
    incident_id: int | None
    since: str | None


class DevicesPublic(BaseModel):
    data: list[DevicePublic]
    count: int


@router.get("/devices", responses={503: {"description": "started without the site config"}})
def list_devices(request: Request, store: StoreDep) -> DevicesPublic:
    """Every configured device with its communication status."""
    register: ComplianceRegister | None = getattr(request.app.state, "compliance", None)
    if register is None:
        raise HTTPException(503, "the device list needs the site config (start with --config)")
    site = register.site
    lost = {
        incident.device: incident
        for incident in store.list(rule=COMM_LOSS, site=site.id, open_only=True, limit=1000)
        if incident.is_active
    }
    data = []
    for device in site.config.devices:
        incident = lost.get(device.id)
        data.append(
            DevicePublic(
                id=device.id,
                name=device.name or device.id,
                kind=site.profile_of(device.id).kind,
                profile=device.profile,
                address=device.transport.describe(),
                poll_interval=device.poll_interval,
                status="online" if incident is None else "lost",
                incident_id=None if incident is None else incident.id,
                since=None if incident is None else incident.to_dict()["raised_at"],
            )
        )
    return DevicesPublic(data=data, count=len(data))
