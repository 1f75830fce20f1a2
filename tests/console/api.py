"""The API with the console on a real uvicorn server, with demo-style users to log in as."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn

from fireroom.clock import SystemClock
from fireroom.config import Site
from services.api.app import create_app
from services.auth import Role, UserStore
from services.compliance import open_register
from services.incidents import IncidentStore
from tests.servers import free_port, wait_for_port

PASSWORD = "demo"
USERS = {"operator1": Role.OPERATOR, "operator2": Role.OPERATOR, "admin": Role.ADMIN}


@contextlib.asynccontextmanager
async def running_api(
    store: IncidentStore, data_dir: Path, site: Site | None = None
) -> AsyncIterator[str]:
    """Serves until the block ends; yields the base URL."""
    clock = SystemClock()
    users = UserStore(data_dir / "users.sqlite3", clock)
    for name, role in USERS.items():
        users.add(name, PASSWORD, role, display_name=name)
    register = open_register(site, data_dir, clock) if site is not None else None
    app = create_app(store, users=users, compliance=register, clock=clock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(), name="api")
    await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        users.close()
