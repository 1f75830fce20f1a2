"""One site on every transport, end to end on real parts: the site simulator serves an MQTT
device (on Mosquitto), a serial server line with two units (RTU frames over TCP) and a serial
line on a socat pty pair; the real gateway reads them all and publishes their telemetry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest

from fireroom import topics
from fireroom.config import MqttConfig, Site, parse_site
from fireroom.domain import Quality
from fireroom.telemetry import Telemetry, decode
from gateway import Gateway
from simulators import Action, SiteSimulator, Step
from tests.servers import Broker, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

TRANSMITTER = {"low": 0.0, "high": 1.6, "unit": "MPa"}  # MPa over 4-20 mA
POLL = 0.2


def all_transports_site(site_id: str, broker: Broker, gateway_end: Path) -> Site:
    def module(device_id: str, unit: int, line: str) -> dict[str, Any]:
        return {"id": device_id, "profile": "ai-4-20ma-8ch", "unit_id": unit,
                "transport": {"type": "rtu", "line": line}, "poll_interval": POLL,
                "points": [{"name": "pressure", "index": 0, "transmitter": TRANSMITTER}]}

    return parse_site({
        "site": {"id": site_id},
        "mqtt": {"host": broker.host, "port": broker.port},
        "lines": [
            {"id": "riser", "type": "serial", "port": str(gateway_end), "baudrate": 19200,
             "inter_frame_delay": 0.01, "timeout": 0.5},
            {"id": "annex", "type": "rtu-over-tcp", "host": "127.0.0.1", "port": free_port(),
             "timeout": 0.5},
        ],
        "devices": [
            module("riser-ai", 1, "riser"),
            {"id": "riser-facp", "profile": "gbt26875-panel", "unit_id": 2,
             "transport": {"type": "rtu", "line": "riser"}, "poll_interval": POLL,
             "points": [{"name": "SD001", "index": 0}, {"name": "SD002", "index": 1}]},
            {"id": "annex-pump", "profile": "electric-pump-controller", "unit_id": 3,
             "transport": {"type": "rtu", "line": "annex"}, "poll_interval": POLL},
            module("annex-ai", 4, "annex"),
            {"id": "hub", "profile": "ai-4-20ma-8ch", "poll_interval": POLL,
             "transport": {"type": "mqtt", "topic": f"sensors/{site_id}/+/hub"},
             "points": [
                 {"name": "pressure", "index": 0, "path": "ch[0].ua",
                  "transmitter": TRANSMITTER},
                 {"name": "level", "path": "level.m", "type": "f32", "unit": "m"},
                 {"name": "battery_low", "path": "battery.low", "table": "coil",
                  "type": "coil"},
                 {"name": "module_status", "path": "diag.status"},
             ]},
        ],
    })


@pytest.fixture(autouse=True)
def _quiet_pymodbus(caplog: pytest.LogCaptureFixture) -> None:
    # pymodbus logs every unanswered request at ERROR: expected while a unit is silent.
    caplog.set_level(logging.CRITICAL, logger="pymodbus")


@contextlib.asynccontextmanager
async def gateway_running(site: Site, broker: Broker) -> AsyncIterator[Gateway]:
    gateway = Gateway(site, MqttConfig(host=broker.host, port=broker.port),
                      rng=random.Random(5))
    task = asyncio.create_task(gateway.run(), name="test-gateway")
    try:
        yield gateway
        assert not task.done(), "the gateway stopped"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def first_good_telemetry(
    client: aiomqtt.Client, devices: set[str], within: float = 30.0
) -> dict[str, Telemetry]:
    found: dict[str, Telemetry] = {}
    async with asyncio.timeout(within):
        async for message in client.messages:
            telemetry = decode(bytes(message.payload))
            if all(reading.quality is Quality.GOOD for reading in telemetry.readings):
                found.setdefault(telemetry.device, telemetry)
            if set(found) >= devices:
                return found
    raise AssertionError("the subscription ended")


async def test_gateway_reads_every_transport_the_simulator_serves(
    mosquitto: Broker, pty_pair: tuple[Path, Path]
) -> None:
    gateway_end, simulator_end = pty_pair
    site = all_transports_site("all-transports", mosquitto, gateway_end)
    devices = {device.id for device in site.config.devices}
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe(topics.telemetry_filter(site.id), qos=1)
        # The site's broker, as runners.simulate hands it over after FIREROOM_MQTT_* overrides.
        async with SiteSimulator(site, serial_ports={"riser": str(simulator_end)},
                                 mqtt=site.config.mqtt) as sim:
            sim.device("riser-ai").set("pressure", 8.0, hold=True)
            sim.device("annex-ai").set("pressure", 12.0, hold=True)
            hub = sim.device("hub")
            hub.set("pressure", 16.0, hold=True)
            hub.set("level", 3.25, hold=True)
            hub.set("battery_low", True, hold=True)
            hub.set("module_status", ["config_error"], hold=True)
            sim.model.panel("riser-facp").set_point_state("SD002", "fire")
            async with gateway_running(site, mosquitto) as gateway:
                found = await first_good_telemetry(client, devices)
                lines = gateway.connections.stats()
    values = {device: {r.point: r.value for r in t.readings} for device, t in found.items()}
    assert values["riser-ai"]["pressure"] == pytest.approx(0.4)
    assert values["annex-ai"]["pressure"] == pytest.approx(0.8)
    assert values["annex-pump"]["mode"] == "auto"
    assert values["annex-pump"]["running"] is False
    assert values["riser-facp"]["SD002"] == ["fire"]
    assert values["riser-facp"]["system_status"] == ["fire"]
    assert values["hub"] == {
        "pressure": pytest.approx(1.2),
        "level": pytest.approx(3.25),
        "battery_low": True,
        "module_status": ["config_error"],
    }
    assert {line: report["devices"] for line, report in lines.items()} == {
        "riser": 2, "annex": 2}


async def device_states(
    client: aiomqtt.Client, until: Callable[[dict[str, dict[str, Any]]], bool],
    states: dict[str, dict[str, Any]], within: float = 30.0,
) -> None:
    """Follow the status topics into `states` until `until(states)` holds."""
    if until(states):
        return
    async with asyncio.timeout(within):
        async for message in client.messages:
            _, _, device = topics.parse_device_topic(str(message.topic))
            states[device] = orjson.loads(bytes(message.payload))
            if until(states):
                return


async def test_silent_steps_take_an_mqtt_device_and_an_rtu_unit_offline(
    mosquitto: Broker, pty_pair: tuple[Path, Path]
) -> None:
    gateway_end, simulator_end = pty_pair
    site = all_transports_site("all-transports-silent", mosquitto, gateway_end)
    silenced = {"hub", "riser-ai"}

    def in_state(state: str, devices: set[str], after: float = 0.0
                 ) -> Callable[[dict[str, dict[str, Any]]], bool]:
        return lambda seen: all(
            seen.get(d, {}).get("state") == state and seen[d]["since"] > after for d in devices)

    states: dict[str, dict[str, Any]] = {}
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe(f"{topics.PREFIX}/{site.id}/status/+", qos=1)
        async with SiteSimulator(site, serial_ports={"riser": str(simulator_end)}) as sim, \
                gateway_running(site, mosquitto):
            everyone = {device.id for device in site.config.devices}
            await device_states(client, in_state("online", everyone), states)
            for device in sorted(silenced):
                sim.apply(Step(at=0, device=device, action=Action.SILENT))
            await device_states(client, in_state("offline", silenced), states)
            lost = max(states[device]["since"] for device in silenced)
            # Their neighbours on the same broker and the same serial line carry on.
            assert states["riser-facp"]["state"] == "online"
            for device in sorted(silenced):
                sim.apply(Step(at=0, device=device, action=Action.ANSWER))
            await device_states(client, in_state("online", silenced, after=lost), states)
    assert sim.publisher("hub").published > 0
    assert [step.step.action for step in sim.applied] == [Action.SILENT] * 2 + [Action.ANSWER] * 2
