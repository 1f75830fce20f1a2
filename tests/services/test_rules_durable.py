"""An alarm is known only once stored: a failing incident store keeps it pending, not lost."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest

from fireroom import topics
from fireroom.clock import SystemClock
from fireroom.config import MqttConfig, parse_site
from fireroom.domain import Severity
from fireroom.telemetry import encode
from services.incidents import IncidentStore
from services.incidents.models import EventKind
from services.rules.pending import Recorder
from services.rules.service import RulesService
from services.rules.transitions import FIRE_ALARM, Clear, Raise
from tests.servers import Broker
from tests.services.helpers import NORMAL_FACP, site_data, telemetry, wait_for
from tests.services.test_service import incident_feed, running, unique_site

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Hold the database's write lock from another connection, as a stuck writer would."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield other
    finally:
        with contextlib.suppress(sqlite3.Error):
            other.execute("ROLLBACK")
        other.close()


@contextlib.asynccontextmanager
async def heartbeats(broker: Broker, site: str) -> AsyncIterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topics.heartbeat(site, "rules"), qos=1)

        async def collect() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                received.append(orjson.loads(message.payload))

        async with asyncio.TaskGroup() as group:
            task = group.create_task(collect(), name="test.heartbeats")
            yield received
            task.cancel()


async def test_a_fire_while_the_store_is_locked_is_announced_then_stored_once(
    mosquitto: Broker, tmp_path: Path
) -> None:
    site_id = unique_site()
    site = parse_site(site_data(site_id, 60.0) | {"monitoring": {"heartbeat_seconds": 0.2}})
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    path = tmp_path / "incidents.db"
    subject = f"{site_id}/facp-1/L1-SD001"
    with IncidentStore(path, busy_timeout=0.1) as store:
        service = RulesService(site, mqtt, store, retry_min=0.1, retry_max=0.3)
        async with (
            incident_feed(mosquitto, site_id) as feed,
            heartbeats(mosquitto, site_id) as beats,
            running(service),
            aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway,
        ):
            fire = telemetry(site_id, "facp-1", 1.0, **{**NORMAL_FACP, "L1-SD001": ["fire"]})
            with locked(path):
                await gateway.publish(topics.telemetry(site_id, "facp-1"), encode(fire), qos=1)
                [provisional] = await wait_for(lambda: feed)
                assert provisional["event"] == "raised"
                assert provisional["stored"] is False
                incident = provisional["incident"]
                assert incident["id"] is None
                assert (incident["rule"], incident["subject"]) == (FIRE_ALARM, subject)
                assert incident["severity"] == "critical"
                assert incident["state"] == "active_unacked"
                assert incident["count"] == 1
                assert incident["device"] == "facp-1"
                await wait_for(
                    lambda: any(
                        b["degraded"] == "incident store failing: 1 alarm(s) not stored:"
                        f" fire_alarm {subject}"
                        for b in beats
                    )
                )
                assert service.stats()["pending"] == 1
                assert service.stats()["store_errors"] >= 1
            # The lock is gone: the retry stores it, and the stored event follows.
            stored = await wait_for(lambda: [e for e in feed if e.get("stored")])
            [fires] = await wait_for(lambda: store.list(rule=FIRE_ALARM))
            assert [e.kind for e in store.events(fires.id)] == [EventKind.RAISED]
            assert stored[0]["incident"]["id"] == fires.id
            beats.clear()
            await wait_for(lambda: beats and beats[-1]["degraded"] == "")
            assert service.stats()["pending"] == 0
        assert len(feed) == 2  # provisional and stored: not lost, not doubled
        assert store.count() == 1


async def test_a_clear_never_overtakes_its_pending_raise(tmp_path: Path) -> None:
    path = tmp_path / "incidents.db"
    events: list[dict[str, Any]] = []
    subject = "s/facp-1/L1-SD001"
    fire = Raise(FIRE_ALARM, subject, Severity.CRITICAL, "Fire alarm", {}, "facp-1", "L1-SD001")
    with IncidentStore(path, busy_timeout=0.05) as store:
        recorder = Recorder(store, "s", SystemClock(), Counter(),
                            events.append, retry_min=0.05, retry_max=0.1)
        async with asyncio.TaskGroup() as group:
            retry = group.create_task(recorder.run(), name="test.retry")
            with locked(path):
                await recorder.apply([fire])
                await recorder.apply([Clear(FIRE_ALARM, subject)])
                assert [t.rule for t in recorder.pending] == [FIRE_ALARM, FIRE_ALARM]
                assert recorder.degraded().startswith("incident store failing: 1 alarm(s)")
            await wait_for(lambda: not recorder.pending)
            retry.cancel()
        [incident] = store.list()
        assert [e.kind for e in store.events(incident.id)] == [
            EventKind.RAISED,
            EventKind.CLEARED,
        ]
    assert [(e["event"], e["stored"]) for e in events] == [
        ("raised", False),
        ("raised", True),
        ("cleared", True),
    ]
