"""The rules service against a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest

from fireroom import topics
from fireroom.config import MqttConfig
from fireroom.domain import IncidentState, Severity
from fireroom.telemetry import MAX_PAYLOAD_BYTES, encode
from services.incidents import IncidentStore
from services.rules.service import RulesService
from tests.servers import Broker
from tests.services.helpers import NORMAL_FACP, make_site, telemetry, wait_for

pytestmark = pytest.mark.integration


def unique_site() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def running(service: RulesService) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(service.run(), name="test.rules")
    try:
        await wait_for(lambda: service.stats().get("connects"), within=10)
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def incident_feed(broker: Broker, site: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Collect every incident change the service publishes for `site`."""
    received: list[dict[str, Any]] = []
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topics.incidents(site), qos=1)

        async def collect() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                received.append(orjson.loads(message.payload))

        task = asyncio.create_task(collect())
        try:
            yield received
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_fire_is_recorded_published_and_cleared(mosquitto: Broker, tmp_path: Path) -> None:
    site_id = unique_site()
    site = make_site(site_id, poll_interval=60.0)
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    with IncidentStore(tmp_path / "incidents.db") as store:
        service = RulesService(site, mqtt, store)
        async with (
            incident_feed(mosquitto, site_id) as feed,
            running(service),
            aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway,
        ):
            topic = topics.telemetry(site_id, "facp-1")
            fire = telemetry(site_id, "facp-1", 1.0, **{**NORMAL_FACP, "L1-SD001": ["fire"]})
            await gateway.publish(topic, encode(fire))
            incident = (await wait_for(lambda: store.list(rule="fire_alarm")))[0]
            assert incident.subject == f"{site_id}/facp-1/L1-SD001"
            assert incident.severity is Severity.CRITICAL
            event = (await wait_for(lambda: feed))[0]
            assert event["event"] == "raised"
            assert event["incident"]["id"] == incident.id
            assert event["incident"]["rule"] == "fire_alarm"

            # Garbage of every kind is counted and changes nothing.
            await gateway.publish(topic, b"{not json")
            await gateway.publish(topic, b'{"site": "x", "readings": 5}')
            await gateway.publish(topic, b"[" + b" " * MAX_PAYLOAD_BYTES + b"]")
            wrong_site = telemetry("other-site", "facp-1", 2.0, **NORMAL_FACP)
            await gateway.publish(topic, encode(wrong_site))
            unknown = telemetry(site_id, "facp-9", 2.0, **NORMAL_FACP)
            await gateway.publish(topics.telemetry(site_id, "facp-9"), encode(unknown))
            stats = await wait_for(lambda: (s := service.stats()).get("rejected", 0) >= 5 and s)
            assert stats["rejected_malformed"] == 2
            assert stats["rejected_oversized"] == 1
            assert stats["rejected_wrong_site"] == 1
            assert stats["rejected_unknown_device"] == 1

            # ... and the service still works.
            await gateway.publish(topic, encode(telemetry(site_id, "facp-1", 3.0, **NORMAL_FACP)))
            await wait_for(lambda: store.get(incident.id).state is IncidentState.CLEARED_UNACKED)
            await wait_for(lambda: len(feed) >= 2)
            assert feed[1]["event"] == "cleared"
            assert service.stats()["accepted"] == 2


async def test_comm_loss_raises_and_clears(mosquitto: Broker, tmp_path: Path) -> None:
    site_id = unique_site()
    # 0.2 s polls: a device is lost after 0.6 s of silence.
    site = make_site(site_id, poll_interval=0.2)
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    with IncidentStore(tmp_path / "incidents.db") as store:
        service = RulesService(site, mqtt, store, tick_interval=0.05)
        async with running(service), aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway:
            lost = await wait_for(lambda: len(store.list(rule="comm_loss")) == 3, within=5)
            assert lost
            subjects = {i.subject for i in store.list(rule="comm_loss")}
            assert subjects == {f"{site_id}/{d}" for d in ("facp-1", "pump-1", "ai-1")}
            message = telemetry(site_id, "facp-1", 1.0, **NORMAL_FACP)
            await gateway.publish(topics.telemetry(site_id, "facp-1"), encode(message))
            await wait_for(
                lambda: store.list(rule="comm_loss", state=IncidentState.CLEARED_UNACKED)
            )


async def test_restart_resumes_open_incidents(mosquitto: Broker, tmp_path: Path) -> None:
    site_id = unique_site()
    site = make_site(site_id, poll_interval=60.0)
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    with IncidentStore(tmp_path / "incidents.db") as store:
        # Left active by a previous run of the service.
        incident = store.raise_incident(
            site=site_id,
            rule="fire_alarm",
            subject=f"{site_id}/facp-1/L1-SD002",
            severity=Severity.CRITICAL,
            message="Fire alarm",
            device="facp-1",
            point="L1-SD002",
        ).incident
        service = RulesService(site, mqtt, store)
        async with running(service), aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway:
            message = telemetry(site_id, "facp-1", 1.0, **NORMAL_FACP)
            await gateway.publish(topics.telemetry(site_id, "facp-1"), encode(message))
            await wait_for(lambda: store.get(incident.id).state is IncidentState.CLEARED_UNACKED)
        assert store.count() == 1


async def test_reconnects_when_the_broker_comes_back(tmp_path: Path) -> None:
    from tests.servers import free_port, run_mosquitto

    site_id = unique_site()
    port = free_port()
    site = make_site(site_id, poll_interval=60.0)
    mqtt = MqttConfig(host="127.0.0.1", port=port)
    with IncidentStore(tmp_path / "incidents.db") as store:
        service = RulesService(site, mqtt, store, reconnect_min=0.05, reconnect_max=0.2)
        task = asyncio.create_task(service.run())
        try:
            await wait_for(lambda: service.stats().get("connection_errors"))
            errors = service.stats()["connection_errors"]
            with run_mosquitto(tmp_path / "broker", port) as broker:
                await wait_for(lambda: service.stats().get("connects"))
                async with aiomqtt.Client(broker.host, broker.port) as gateway:
                    fire = telemetry(
                        site_id, "facp-1", 1.0, **{**NORMAL_FACP, "L1-SD001": ["fire"]}
                    )
                    await gateway.publish(topics.telemetry(site_id, "facp-1"), encode(fire))
                    await wait_for(lambda: store.list(rule="fire_alarm"))
                errors = service.stats()["connection_errors"]
            # The broker is gone again: the service notices and keeps trying.
            await wait_for(lambda: service.stats()["connection_errors"] > errors)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
