"""The rules service watches the monitoring chain: heartbeats, gateways, gaps, outages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import aiomqtt
import orjson
import pytest

from fireroom import heartbeat, topics
from fireroom.config import MqttConfig, Site, parse_site
from fireroom.domain import IncidentState, Quality, Reading, Severity
from fireroom.telemetry import Telemetry, encode
from services.incidents import IncidentStore
from services.rules.service import RulesService
from services.rules.transitions import COMM_LOSS, FIRE_ALARM, MONITORING_DEGRADED
from tests.servers import Broker, free_port, run_mosquitto
from tests.services.helpers import NORMAL_FACP, site_data, telemetry, wait_for
from tests.services.test_service import running, unique_site

pytestmark = pytest.mark.integration

NONCONFORMING = "nonconforming_configuration"


def make(site_id: str, poll_interval: float = 60.0, **extra: Any) -> Site:
    return parse_site(site_data(site_id, poll_interval) | extra)


@contextlib.asynccontextmanager
async def listen(broker: Broker, topic: str) -> AsyncIterator[list[bytes]]:
    received: list[bytes] = []
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)

        async def collect() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                received.append(message.payload)

        async with asyncio.TaskGroup() as group:
            task = group.create_task(collect(), name="test.listen")
            yield received
            task.cancel()


def beat(site: str, state: Literal["online", "offline"], reason: str = "") -> bytes:
    ts = None if state == "offline" else 1.0
    return heartbeat.Heartbeat(f"gw-{site}", "gateway", state, ts, 0.2, reason).to_json()


async def test_rules_beats_with_a_will_and_says_goodbye(mosquitto: Broker, tmp_path: Path) -> None:
    site_id = unique_site()
    site = make(site_id, monitoring={"heartbeat_seconds": 0.2})
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    with IncidentStore(tmp_path / "incidents.db") as store:
        async with listen(mosquitto, topics.heartbeat(site_id, "rules")) as beats:
            async with running(RulesService(site, mqtt, store)):
                await wait_for(lambda: len(beats) >= 2)
                first = heartbeat.decode(beats[0])
                assert (first.process, first.kind, first.state) == ("rules", "rules", "online")
                assert first.interval == 0.2
                assert first.degraded == ""
            last = await wait_for(lambda: heartbeat.decode(beats[-1]).state == "offline" and beats)
            assert heartbeat.decode(last[-1]).reason == "stopped"


async def test_a_gone_gateway_raises_monitoring_degraded_until_it_beats_again(
    mosquitto: Broker, tmp_path: Path
) -> None:
    site_id = unique_site()
    site = make(site_id)
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    topic = topics.heartbeat(site_id, f"gw-{site_id}")
    subject = f"{site_id}/gw-{site_id}"
    with IncidentStore(tmp_path / "incidents.db") as store:
        service = RulesService(site, mqtt, store, tick_interval=0.05)
        async with running(service), aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway:
            await gateway.publish(topic, beat(site_id, "online"), qos=1)
            await gateway.publish(topic, b"{garbage", qos=1)
            await wait_for(lambda: service.stats().get("heartbeat_garbage") == 1)
            assert store.list(rule=MONITORING_DEGRADED) == []
            await gateway.publish(topic, beat(site_id, "offline", "connection lost"), qos=1)
            [gone] = await wait_for(lambda: store.list(rule=MONITORING_DEGRADED))
            assert gone.subject == subject
            assert gone.severity is Severity.CRITICAL
            assert gone.message == (
                f"Gateway gw-{site_id} is gone (offline: connection lost): devices are not"
                " being read — watch the panel itself"
            )
            await gateway.publish(topic, beat(site_id, "online"), qos=1)
            await wait_for(lambda: store.get(gone.id).state is IncidentState.CLEARED_UNACKED)


async def test_an_old_retained_offline_does_not_raise_when_the_gateway_beats(
    mosquitto: Broker, tmp_path: Path
) -> None:
    site_id = unique_site()
    site = make(site_id)
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    topic = topics.heartbeat(site_id, f"gw-{site_id}")
    with IncidentStore(tmp_path / "incidents.db") as store:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway:
            # Left by the gateway's last run; it is starting again with us.
            await gateway.publish(topic, beat(site_id, "offline", "stopped"), qos=1, retain=True)
            service = RulesService(site, mqtt, store, tick_interval=0.05)
            async with running(service):
                await wait_for(lambda: service.stats().get("heartbeats"))
                await gateway.publish(topic, beat(site_id, "online"), qos=1, retain=True)
                await wait_for(lambda: service.stats().get("heartbeats", 0) >= 2)
            assert store.list(rule=MONITORING_DEGRADED) == []


async def test_the_sites_gateway_never_heard_is_gone(mosquitto: Broker, tmp_path: Path) -> None:
    site_id = unique_site()
    site = make(site_id, monitoring={"gone_after_seconds": 1})
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    with IncidentStore(tmp_path / "incidents.db") as store:
        service = RulesService(site, mqtt, store, tick_interval=0.05)
        async with running(service):
            [gone] = await wait_for(lambda: store.list(rule=MONITORING_DEGRADED), within=5)
            assert gone.subject == f"{site_id}/gw-{site_id}"
            assert "is gone (not heard for 1 s)" in gone.message


async def test_a_seq_gap_asks_the_gateway_for_a_snapshot(
    mosquitto: Broker, tmp_path: Path
) -> None:
    site_id = unique_site()
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    readings = [Reading(name, value, Quality.GOOD) for name, value in NORMAL_FACP.items()]
    with IncidentStore(tmp_path / "incidents.db") as store:
        service = RulesService(make(site_id), mqtt, store)
        async with (
            listen(mosquitto, topics.snapshot_request(site_id)) as requests,
            running(service),
            aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway,
        ):
            topic = topics.telemetry(site_id, "facp-1")
            for seq in (41, 42, 44, 45, 3):  # 43 lost; 3: the gateway restarted
                message = Telemetry(site_id, "facp-1", float(seq), seq, readings)
                await gateway.publish(topic, encode(message), qos=1)
            await wait_for(lambda: service.stats().get("accepted") == 5)
            [request] = await wait_for(lambda: requests)
            assert orjson.loads(request) == {"devices": ["facp-1"], "reason": "seq gap 42→44"}
            assert service.stats()["seq_gaps"] == 1


async def test_telemetry_sent_while_rules_is_away_is_delivered(
    mosquitto: Broker, tmp_path: Path
) -> None:
    site_id = unique_site()
    site = make(site_id)
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    with IncidentStore(tmp_path / "incidents.db") as store:
        async with running(RulesService(site, mqtt, store)):
            pass  # the first session subscribes; the broker keeps it
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway:
            fire = telemetry(site_id, "facp-1", 1.0, **{**NORMAL_FACP, "L1-SD001": ["fire"]})
            await gateway.publish(topics.telemetry(site_id, "facp-1"), encode(fire), qos=1)
        async with running(RulesService(site, mqtt, store)):
            await wait_for(lambda: store.list(rule=FIRE_ALARM))


async def test_devices_hidden_by_a_broker_outage_are_comm_lost(tmp_path: Path) -> None:
    site_id = unique_site()
    port = free_port()
    site = make(site_id, poll_interval=0.2)  # lost after 0.6 s
    mqtt = MqttConfig(host="127.0.0.1", port=port)
    with IncidentStore(tmp_path / "incidents.db") as store:
        service = RulesService(
            site, mqtt, store, tick_interval=0.05, reconnect_min=0.05, reconnect_max=0.2
        )
        async with asyncio.TaskGroup() as group:
            task = group.create_task(service.run(), name="test.rules")
            # No broker at all: the ticker still runs and the store still records.
            lost = await wait_for(lambda: len(store.list(rule=COMM_LOSS)) == 3 and store.list(
                rule=COMM_LOSS
            ), within=5)
            assert all(i.detail["monitoring_outage_seconds"] >= 0.6 for i in lost)
            panel = next(i for i in lost if i.device == "facp-1")
            assert panel.severity is Severity.CRITICAL
            with run_mosquitto(tmp_path / "broker", port) as broker:
                await wait_for(lambda: service.stats().get("connects"))
                async with aiomqtt.Client(broker.host, broker.port) as gateway:
                    good = telemetry(site_id, "facp-1", 1.0, **NORMAL_FACP)
                    await gateway.publish(topics.telemetry(site_id, "facp-1"), encode(good))
                    await wait_for(
                        lambda: store.get(panel.id).state is IncidentState.CLEARED_UNACKED
                    )
            task.cancel()


async def test_a_nonconforming_site_says_so_until_it_conforms(
    mosquitto: Broker, tmp_path: Path
) -> None:
    site_id = unique_site()
    declared = {"reason": "panel polled every 20 s", "approved_by": "Chief Wang"}
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    with IncidentStore(tmp_path / "incidents.db") as store:
        async with running(RulesService(make(site_id, nonconforming=declared), mqtt, store)):
            [incident] = await wait_for(lambda: store.list(rule=NONCONFORMING))
        assert incident.subject == site_id
        assert incident.severity is Severity.MAJOR
        assert incident.message == (
            "Configuration does not meet GB 25506 timing: panel polled every 20 s"
            " (approved by Chief Wang)"
        )
        assert incident.detail == declared
        async with running(RulesService(make(site_id), mqtt, store)):
            await wait_for(
                lambda: store.get(incident.id).state is IncidentState.CLEARED_UNACKED
            )
