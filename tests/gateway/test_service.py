"""The whole gateway against real pymodbus servers and a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest
from pymodbus.constants import ExcCodes

from fireroom import topics
from fireroom.config import MqttConfig, Site
from fireroom.telemetry import Telemetry, decode
from gateway import Gateway
from tests.gateway.modbus import EXPECTED, POINTS, make_site, raw_server, sim_server, write_profile
from tests.servers import Broker, free_port, run_mosquitto

pytestmark = pytest.mark.integration


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool
    qos: int = 0  # as delivered: the lower of the publisher's and the subscription's (1)

    def json(self) -> Any:
        return orjson.loads(self.payload)


class Collector:
    """Every message under one site's topics, as received by a real subscriber."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._arrived = asyncio.Condition()

    async def add(self, message: Message) -> None:
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    async def wait_for(self, predicate: Callable[[Message], bool], within: float = 5) -> Message:
        async with asyncio.timeout(within), self._arrived:
            seen = 0
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                await self._arrived.wait()

    def telemetry(self, device: str) -> list[Telemetry]:
        return [decode(m.payload) for m in self.messages
                if m.topic == topics.telemetry(m.topic.split("/")[2], device)]


@contextlib.asynccontextmanager
async def collect(broker: Broker, site: str) -> AsyncIterator[Collector]:
    collector = Collector()
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"{topics.PREFIX}/{site}/#", qos=1)

        async def pump() -> None:
            async for m in client.messages:
                await collector.add(Message(str(m.topic), bytes(m.payload), m.retain, m.qos))

        task = asyncio.create_task(pump())
        try:
            yield collector
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def retained(broker: Broker, topic: str) -> Any:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic)
        async with asyncio.timeout(3):
            async for m in client.messages:
                assert m.retain
                return orjson.loads(bytes(m.payload))
    return None


@contextlib.asynccontextmanager
async def running(gateway: Gateway) -> AsyncIterator[Gateway]:
    task = asyncio.create_task(gateway.run(), name="test-gateway")
    try:
        yield gateway
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def mqtt(broker: Broker) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port)


def gateway(site: Site, broker: Broker | MqttConfig) -> Gateway:
    config = broker if isinstance(broker, MqttConfig) else mqtt(broker)
    return Gateway(site, config, rng=random.Random(5))


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    return write_profile(tmp_path / "profiles")


def is_telemetry(device: str) -> Callable[[Message], bool]:
    return lambda m: m.topic.endswith(f"/telemetry/{device}")


def is_status(device: str, state: str) -> Callable[[Message], bool]:
    return lambda m: m.topic.endswith(f"/status/{device}") and m.json()["state"] == state


async def test_publishes_decoded_telemetry_and_statuses(mosquitto: Broker, profiles: Path) -> None:
    port = free_port()
    site = make_site("gw-values", profiles, {"unit-1": port})
    async with sim_server(port), collect(mosquitto, site.id) as inbox:
        async with running(gateway(site, mosquitto)) as gw:
            first = decode((await inbox.wait_for(is_telemetry("unit-1"))).payload)
            await inbox.wait_for(is_status("unit-1", "online"))
            await inbox.wait_for(lambda m: len(inbox.telemetry("unit-1")) >= 3)
            assert await retained(mosquitto, topics.status(site.id, "unit-1")) == {
                "state": "online", "since": pytest.approx(first.ts), "reason": ""}
            assert (await retained(mosquitto, topics.gateway_status(site.id, "gw-gw-values"))
                    )["state"] == "online"
            stats = gw.stats()["unit-1"]
        # Stopping says goodbye: the gateway status is retained offline.
        assert (await retained(mosquitto, topics.gateway_status(site.id, "gw-gw-values"))
                )["state"] == "offline"
    assert (first.site, first.device) == (site.id, "unit-1")
    assert {r.point: r.value for r in first.readings} == pytest.approx(EXPECTED)
    assert {r.quality.value for r in first.readings} == {"good"}
    seqs = [t.seq for t in inbox.telemetry("unit-1")]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert stats["state"] == "online"
    assert stats["requests_per_scan"] == 6
    assert stats["published"] >= 2
    assert stats["errors"] == {
        "timeout": 0, "exception": 0, "busy": 0, "garbage": 0, "connection": 0}


async def test_live_value_changes_reach_the_subscriber(mosquitto: Broker, profiles: Path) -> None:
    port = free_port()
    site = make_site("gw-change", profiles, {"unit-1": port})
    async with sim_server(port) as server, collect(mosquitto, site.id) as inbox, \
            running(gateway(site, mosquitto)):
        await inbox.wait_for(is_telemetry("unit-1"))
        server.holding[0] = 0b11  # fault bit set
        server.holding[2] = 35
        message = await inbox.wait_for(
            lambda m: is_telemetry("unit-1")(m) and m.json()["readings"]["fault"][0] is True)
    readings = message.json()["readings"]
    assert readings["fault"] == [True, "good"]
    assert readings["pressure"] == [pytest.approx(0.35), "good"]


async def test_lost_device_goes_offline_and_recovers(mosquitto: Broker, profiles: Path) -> None:
    port = free_port()
    site = make_site("gw-lost", profiles, {"unit-1": port})
    server = None
    async with collect(mosquitto, site.id) as inbox, running(gateway(site, mosquitto)) as gw:
        async with sim_server(port) as server:
            online = await inbox.wait_for(is_status("unit-1", "online"))
        offline = await inbox.wait_for(
            lambda m: is_status("unit-1", "offline")(m)
            and m.json()["since"] > online.json()["since"])
        lost = await inbox.wait_for(
            lambda m: is_telemetry("unit-1")(m) and m.json()["ts"] >= offline.json()["since"]
            and m.json()["readings"]["pressure"][1] == "comm_lost")
        assert await retained(mosquitto, topics.status(site.id, "unit-1")) == offline.json()
        async with sim_server(port):
            back = await inbox.wait_for(
                lambda m: is_telemetry("unit-1")(m) and m.json()["readings"]["pressure"][1]
                == "good" and m.json()["seq"] > lost.json()["seq"], within=10)
            await inbox.wait_for(lambda m: is_status("unit-1", "online")(m) and m.json()["since"]
                                 > offline.json()["since"])
        stats = gw.stats()["unit-1"]
    assert server is not None
    assert offline.json()["reason"]
    assert lost.json()["readings"] == {name: [None, "comm_lost"] for name in POINTS}
    assert back.json()["readings"]["pressure"] == [pytest.approx(0.62), "good"]
    assert stats["failed_scans"] >= 1


async def test_exception_block_is_bad_over_mqtt(mosquitto: Broker, profiles: Path) -> None:
    port = free_port()
    site = make_site("gw-exc", profiles, {"unit-1": port})
    failures = {(3, 4): ExcCodes.ILLEGAL_ADDRESS, (2, 0): ExcCodes.DEVICE_BUSY}
    async with sim_server(port, failures=failures), collect(mosquitto, site.id) as inbox, \
            running(gateway(site, mosquitto)) as gw:
        message = await inbox.wait_for(is_telemetry("unit-1"))
        await inbox.wait_for(is_status("unit-1", "online"))
        stats = gw.stats()["unit-1"]
    readings = message.json()["readings"]
    bad = {name for name, reading in readings.items() if reading[1] == "bad"}
    assert bad == {"run_hours", "door_open", "on_emergency_supply"}
    assert all(readings[name][0] is None for name in bad)
    assert readings["temperature"] == [pytest.approx(-5.0), "good"]
    errors = stats["errors"]
    assert errors["exception"] >= 2


async def test_dead_and_garbage_devices_do_not_delay_a_healthy_one(
    mosquitto: Broker, profiles: Path
) -> None:
    healthy_port = free_port()
    async with raw_server("silent") as silent_port, raw_server("wrong_function") as junk_port, \
            raw_server("undecodable") as broken_port, sim_server(healthy_port):
        site = make_site("gw-neighbours", profiles, {
            "healthy": healthy_port, "silent": silent_port, "junk": junk_port,
            "broken": broken_port, "nothing": free_port()}, poll_interval=0.1, timeout=0.5)
        async with collect(mosquitto, site.id) as inbox, running(gateway(site, mosquitto)) as gw:
            await inbox.wait_for(is_telemetry("healthy"))
            await asyncio.sleep(1.5)
            stats = gw.stats()
    healthy = inbox.telemetry("healthy")
    gaps = [b.ts - a.ts for a, b in itertools.pairwise(healthy)]
    assert len(healthy) >= 12
    # Had the healthy device waited for the silent one, a gap would reach its 0.5 s timeout.
    assert max(gaps) < 0.5
    assert all(r.quality.value == "good" for t in healthy for r in t.readings)
    for device in ("silent", "junk", "broken", "nothing"):
        published = inbox.telemetry(device)
        assert published, device
        for message in published:
            assert all(r.quality.value in ("bad", "comm_lost") for r in message.readings)
            assert all(r.value is None for r in message.readings)
    errors = {device: entry["errors"] for device, entry in stats.items()}
    assert errors["silent"]["timeout"] >= 1
    assert errors["junk"]["garbage"] >= 6
    assert errors["broken"]["connection"] >= 1
    assert errors["nothing"]["connection"] >= 1
    assert stats["junk"]["state"] == "online"  # it answers, just uselessly
    assert stats["silent"]["state"] == "offline"


async def test_keeps_polling_without_a_broker_and_connects_later(
    profiles: Path, tmp_path: Path
) -> None:
    modbus_port, mqtt_port = free_port(), free_port()
    site = make_site("gw-nobroker", profiles, {"unit-1": modbus_port})
    config = MqttConfig(host="127.0.0.1", port=mqtt_port)
    async with sim_server(modbus_port), running(gateway(site, config)) as gw:
        await asyncio.sleep(0.6)
        before = gw.stats()["unit-1"]
        assert before["scans"] >= 4
        # Nothing is lost for want of a broker: the scans wait in the queue.
        assert (before["dropped"], before["published"]) == (0, 0)
        assert gw.publisher.queued >= 4
        late = run_mosquitto(tmp_path / "late-broker", mqtt_port)
        broker = await asyncio.to_thread(late.__enter__)
        try:
            async with collect(broker, site.id) as inbox:
                message = await inbox.wait_for(is_telemetry("unit-1"), within=10)
                await inbox.wait_for(is_status("unit-1", "online"))
        finally:
            await asyncio.to_thread(late.__exit__, None, None, None)
        connected = gw.stats()["unit-1"]
        # The broker goes away mid-run: polling goes on, telemetry waits in the queue.
        await asyncio.sleep(0.6)
        gone = gw.stats()["unit-1"]
        queued = gw.publisher.queued
        again = run_mosquitto(tmp_path / "broker-again", mqtt_port)
        broker = await asyncio.to_thread(again.__enter__)
        try:
            async with collect(broker, site.id) as inbox:
                # Statuses are re-sent after a reconnect, so a fresh broker learns them too.
                await inbox.wait_for(is_status("unit-1", "online"), within=10)
                await inbox.wait_for(is_telemetry("unit-1"))
        finally:
            await asyncio.to_thread(again.__exit__, None, None, None)
    assert message.json()["readings"]["mode"] == ["auto", "good"]
    assert connected["published"] >= 1
    assert gone["scans"] >= connected["scans"] + 4
    assert queued >= 3
    assert gone["dropped"] == 0
    assert gw.publisher.connections >= 2
