"""The whole API on real SQLite files: incidents, users, duty, with a simulated clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from fireroom.clock import SimulatedClock
from fireroom.domain import Severity
from fireroom.shifts import ShiftsConfig
from services.api import create_app
from services.auth import UserStore
from services.duty import DutyService, DutyStore
from services.incidents import IncidentStore
from tests.services.auth.accounts import make_users

SITE = "tower-a"
ZONE = ZoneInfo("Asia/Shanghai")


@dataclass
class Api:
    client: httpx.AsyncClient
    store: IncidentStore
    users: UserStore
    duty: DutyService
    clock: SimulatedClock
    fire_id: int
    comm_id: int


def raise_fire(store: IncidentStore) -> int:
    return store.raise_incident(
        site=SITE, rule="fire_alarm", subject=f"{SITE}/facp-1/L1-SD001",
        severity=Severity.CRITICAL, message="Fire alarm: smoke 1", device="facp-1",
    ).incident.id


def raise_comm(store: IncidentStore) -> int:
    return store.raise_incident(
        site=SITE, rule="comm_loss", subject=f"{SITE}/pump-1", severity=Severity.MAJOR,
        message="No data from pump-1", device="pump-1",
    ).incident.id


@asynccontextmanager
async def running_api(tmp_path: Path, clock: SimulatedClock | None = None) -> AsyncIterator[Api]:
    clock = clock or SimulatedClock()
    with IncidentStore(tmp_path / "incidents.sqlite3", clock) as store, make_users(
        tmp_path / "users.sqlite3", clock
    ) as users:
        duty = DutyService(
            site=SITE, zone=ZONE, shifts=ShiftsConfig(), clock=clock, incidents=store,
            duty=DutyStore(tmp_path / "duty.sqlite3", created_at=clock.now()),
        )
        fire, comm = raise_fire(store), raise_comm(store)
        app = create_app(store, site_id=SITE, users=users, duty=duty, clock=clock)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api"
        ) as client:
            yield Api(client, store, users, duty, clock, fire, comm)
        duty.duty.close()
