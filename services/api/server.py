"""Run the API with uvicorn inside the caller's event loop (CLI, one-process demo)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn

from fireroom.config import Site
from services.api.app import create_app
from services.api.monitor import Monitor
from services.auth import UserStore
from services.compliance import ComplianceRegister
from services.duty import DutyService
from services.incidents import IncidentStore

__all__ = ["serve_api"]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The process's owner handles signals and stops us by cancelling; uvicorn's own
        # handlers would swallow Ctrl-C for the rest of the process.
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def serve_api(
    store: IncidentStore,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    site_id: str | None = None,
    log_level: str = "info",
    compliance: ComplianceRegister | None = None,
    users: UserStore,
    duty: DutyService | None = None,
    monitor: Monitor | None = None,
    site: Site | None = None,
) -> None:
    """Serve until cancelled, then finish in-flight requests and return (re-raising cancel).

    Binding happens here, so a busy port raises OSError instead of uvicorn's `sys.exit`.
    `monitor` (the API's own broker connection) runs alongside, as long as the server.
    """
    sock = _bind(host, port)
    config = uvicorn.Config(
        create_app(store, site_id=site_id, compliance=compliance, users=users, duty=duty,
                   monitor=monitor, site=site),
        log_level=log_level,
        timeout_graceful_shutdown=5,
        lifespan="off",
    )
    server = _Server(config)
    try:
        async with asyncio.TaskGroup() as group:
            watcher = None if monitor is None else group.create_task(
                monitor.run(), name=f"api[{host}:{port}].monitor"
            )
            try:
                await _serve(server, sock, f"api[{host}:{port}].serve")
            finally:
                if watcher is not None:
                    watcher.cancel()
    finally:
        sock.close()


async def _serve(server: uvicorn.Server, sock: socket.socket, name: str) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]), name=name)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        await task
        raise
