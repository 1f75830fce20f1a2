"""The event stream wakes on a change instead of waiting for its next read of the table."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import orjson
import pytest

from fireroom import topics
from fireroom.clock import SystemClock
from fireroom.config import MonitoringConfig, MqttConfig
from fireroom.domain import Severity
from services.api.changes import Changes
from services.api.monitor import Monitor
from services.incidents import IncidentStore
from tests.console.api import running_api
from tests.console.test_events import fire, logged_in, next_event
from tests.servers import Broker
from tests.services.helpers import wait_for

SLOW = 30.0  # the fallback read: far longer than any wait below
PROMPT = 3.0


@pytest.mark.integration
async def test_an_incidents_message_wakes_the_stream(tmp_path: Path, mosquitto: Broker) -> None:
    store = IncidentStore(tmp_path / "incidents.sqlite3")
    writer = IncidentStore(tmp_path / "incidents.sqlite3")  # the rules process's connection
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    monitor = Monitor("tower-a", mqtt, MonitoringConfig(), changes=Changes(), clock=SystemClock())
    async with (
        running_api(store, tmp_path, monitor=monitor, event_poll=SLOW) as base,
        logged_in(base) as client,
        client.stream("GET", "/api/v1/events") as response,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as rules,
    ):
        lines = response.aiter_lines()
        await wait_for(monitor.chain.broker_ok)
        change = writer.raise_incident(
            site="tower-a", rule="fire_alarm", subject="tower-a/facp-1/L1-SD001",
            severity=Severity.CRITICAL,
            message="fire", device="facp-1",
        )
        await rules.publish(topics.incidents("tower-a"), orjson.dumps(change.to_dict()), qos=1)
        async with asyncio.timeout(PROMPT):
            event = await next_event(lines)
    # What is sent still comes from the table: the event id is the table's.
    assert event["id"] == store.events(change.incident.id)[0].id
    assert event["data"]["incident"]["id"] == change.incident.id
    writer.close()
    store.close()


async def test_the_apis_own_ack_wakes_the_stream(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents.sqlite3")
    incident = fire(store, "L1-SD001")
    async with (
        running_api(store, tmp_path, event_poll=SLOW) as base,
        logged_in(base) as client,
        logged_in(base) as watcher,
        watcher.stream("GET", "/api/v1/events") as response,
    ):
        lines = response.aiter_lines()
        await anext(lines)  # connected: the stream has read the table and waits
        acked = await client.post(f"/api/v1/incidents/{incident}/ack", json={})
        assert acked.status_code == 200
        async with asyncio.timeout(PROMPT):
            event = await next_event(lines)
    assert event["data"]["event"] == "acknowledged"
    store.close()
