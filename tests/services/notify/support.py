"""Sites with a notifications section, and a running notifier for a test's duration."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt

from fireroom import heartbeat
from fireroom.clock import Clock, SystemClock
from fireroom.config import MqttConfig, Site, parse_site
from fireroom.domain import Severity
from services.incidents import IncidentChange, IncidentStore
from services.notify import NotifyService
from tests.servers import free_port
from tests.services.helpers import site_data

PEOPLE = [
    {"id": "eng-a", "name": "Wang Wei", "email": "wang@example.com"},
    {"id": "eng-b", "name": "Li Na", "email": "li@example.com"},
    {"id": "eng-c", "name": "Zhang Min", "email": "zhang@example.com"},
]


def unique_site() -> str:
    return f"ntf-{uuid.uuid4().hex[:8]}"


def notify_site(site_id: str, channels: list[dict[str, Any]], routes: list[dict[str, Any]],
                monitoring: dict[str, float] | None = None, **extra: Any) -> Site:
    data = site_data(site_id)
    data["notifications"] = {"recipients": PEOPLE, "channels": channels, "routes": routes,
                             **extra}
    if monitoring is not None:
        data["monitoring"] = monitoring
    return parse_site(data)


@contextlib.asynccontextmanager
async def beating(mqtt: MqttConfig, site: str, process: str = "rules", *,
                  interval: float = 0.2, degraded: str = "") -> AsyncIterator[None]:
    """A process that beats on the real broker, with its last will, until the block ends
    (then it says `offline`, as a process that stops does)."""
    kind: heartbeat.Kind = "rules" if process == "rules" else "gateway"
    will = heartbeat.offline_will(site, process, kind, interval)
    # A test may stop the broker under it: the beating then just ends.
    with contextlib.suppress(aiomqtt.MqttError):
        async with aiomqtt.Client(mqtt.host, mqtt.port, will=will) as client:
            task = asyncio.create_task(
                heartbeat.beat(client, site, process, kind, interval=interval,
                               clock=SystemClock(), degraded=lambda: degraded),
                name=f"test.beat[{process}]",
            )
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await task


def nowhere() -> MqttConfig:
    """A broker address nothing listens on: for tests driven by the store poll alone."""
    return MqttConfig(port=free_port())


def fire(store: IncidentStore, site: str, subject: str = "facp-1/L1-SD001",
         severity: Severity = Severity.CRITICAL, rule: str = "fire_alarm") -> IncidentChange:
    return store.raise_incident(site=site, rule=rule, subject=subject, severity=severity,
                                message=f"Fire at {subject}", device=subject.partition("/")[0])


@contextlib.asynccontextmanager
async def running(site: Site, store: IncidentStore, outbox: Path, *,
                  mqtt: MqttConfig | None = None,
                  clock: Clock | None = None,
                  supervise: bool = False) -> AsyncIterator[NotifyService]:
    """Without `supervise`, the notifier does not watch the chain: tests of escalation often
    run without a broker, which a supervising notifier would rightly report."""
    service = NotifyService(site, mqtt or nowhere(), store, outbox_path=outbox, clock=clock,
                            supervise=supervise)
    task = asyncio.create_task(service.run(), name="test.notify")
    try:
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        service.close()
