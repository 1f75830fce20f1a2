"""The API with the console on a real uvicorn server, with demo-style users to log in as."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn

from fireroom.clock import SystemClock
from fireroom.config import Site
from services.api.app import create_app
from services.api.monitor import Monitor
from services.api.routes.events import POLL
from services.auth import Role, UserStore
from services.compliance import open_register
from services.duty import DutyService, DutyStore
from services.incidents import IncidentStore
from tests.servers import free_port, wait_for_port

PASSWORD = "demo"
USERS = {"operator1": Role.OPERATOR, "operator2": Role.OPERATOR, "admin": Role.ADMIN}


@contextlib.asynccontextmanager
async def running_api(
    store: IncidentStore, data_dir: Path, site: Site | None = None, *,
    monitor: Monitor | None = None, event_poll: float = POLL,
) -> AsyncIterator[str]:
    """Serves until the block ends; yields the base URL. With `site`, the duty service
    (duty log, check-in, handovers) is wired in as `fireroom api --config` does; with
    `monitor`, the API's broker connection runs alongside as `serve_api` runs it."""
    clock = SystemClock()
    users = UserStore(data_dir / "users.sqlite3", clock)
    for name, role in USERS.items():
        users.add(name, PASSWORD, role, display_name=name)
    register = open_register(site, data_dir, clock) if site is not None else None
    duty = None
    if site is not None:
        duty = DutyService(
            site=site.id, zone=ZoneInfo(site.config.site.timezone), shifts=site.config.shifts,
            duty=DutyStore(data_dir / "duty.sqlite3", created_at=clock.now()), incidents=store,
            clock=clock, register=register,
        )
        duty.tick()  # the first status entry, so the duty log is not empty
    app = create_app(store, users=users, compliance=register, duty=duty, clock=clock,
                     monitor=monitor, event_poll=event_poll, site=site)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(), name="api")
    watcher = None if monitor is None else asyncio.create_task(monitor.run(), name="api.monitor")
    await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        if watcher is not None:
            watcher.cancel()
        await asyncio.gather(task, *([watcher] if watcher else []), return_exceptions=True)
        users.close()
        if duty is not None:
            duty.duty.close()
