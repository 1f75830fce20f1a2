"""MQTT devices in the site model and the site simulator, publishing to a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import orjson
import pytest

from fireroom.config import MqttConfig, Site, parse_site
from simulators import (
    Action,
    ScenarioError,
    SimulatorError,
    SiteModel,
    SiteSimulator,
    Step,
    json_document,
    parse_scenario,
)
from tests.servers import Broker, free_port

pytestmark = pytest.mark.timeout(30)


def hub(device_id: str, topic: str, **transport: Any) -> dict[str, Any]:
    """A sensor hub publishing a transmitter, a level, a bit and a flags word as JSON."""
    return {
        "id": device_id, "profile": "ai-4-20ma-8ch", "poll_interval": 0.1,
        "transport": {"type": "mqtt", "topic": topic, **transport},
        "points": [
            {"name": "pressure", "index": 0, "path": "ch[0].ua",
             "transmitter": {"low": 0.0, "high": 1.6, "unit": "MPa"}},
            {"name": "spare", "index": 1, "path": "ch[1].ua"},
            {"name": "level", "path": "level.m", "type": "f32", "unit": "m"},
            {"name": "flow", "path": "flow.lpm", "scale": 0.1, "unit": "l/min"},
            {"name": "battery_low", "path": "battery.low", "table": "coil", "type": "coil"},
            {"name": "door_open", "path": "door", "table": "coil", "type": "coil"},
            {"name": "module_status", "path": "diag.status"},
            {"name": "module_temperature", "path": "diag.temp"},
        ],
    }


def mqtt_site(site_id: str, broker: Broker | None = None, *devices: dict[str, Any]) -> Site:
    data: dict[str, Any] = {"site": {"id": site_id}, "devices": list(devices)}
    if broker is not None:
        data["mqtt"] = {"host": broker.host, "port": broker.port}
    return parse_site(data)


def test_json_points_get_registers_of_their_own() -> None:
    # JSON points that name no profile point stand at address 0 in the config; laid out
    # apart, none overwrites another's value.
    site = mqtt_site("sim-mqtt-model", None, hub("hub-1", "sensors/hub-1"))
    config = {point.name: (point.table, point.address) for point in site.points["hub-1"]}
    assert config["level"] == config["flow"]
    assert config["battery_low"] == config["door_open"]
    device = SiteModel(site).device("hub-1")
    device.set("pressure", 12.0)
    device.set("spare", 4.5)
    device.set("level", 3.25)
    device.set("flow", 120.5)
    device.set("battery_low", True)
    device.set("door_open", False)
    device.set("module_status", ["adc_fault"])
    assert device.get("pressure") == pytest.approx(12.0)
    assert device.get("spare") == pytest.approx(4.5)
    assert device.get("level") == pytest.approx(3.25)
    assert device.get("flow") == pytest.approx(120.5)
    assert device.get("battery_low") is True
    assert device.get("door_open") is False
    assert device.get("module_status") == ["adc_fault"]
    # The analog module model gave the module its temperature, as over Modbus.
    assert device.get("module_temperature") == pytest.approx(31.5)
    assert json_document(device) == {
        "ch": [{"ua": 12000}, {"ua": 4500}],
        "level": {"m": pytest.approx(3.25)},
        "flow": {"lpm": 1205},
        "battery": {"low": True},
        "door": False,
        "diag": {"status": 4, "temp": 315},
    }


@contextlib.asynccontextmanager
async def subscribed(broker: Broker, topic: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        yield client


async def next_document(client: aiomqtt.Client, within: float = 10.0) -> tuple[str, Any]:
    async with asyncio.timeout(within):
        message = await anext(aiter(client.messages))
    return str(message.topic), orjson.loads(bytes(message.payload))


async def test_mqtt_devices_publish_to_the_site_broker_or_their_own(mosquitto: Broker) -> None:
    nowhere = MqttConfig(host="127.0.0.1", port=free_port())
    site = mqtt_site(
        "sim-mqtt-brokers", None,
        hub("hub-site", "sim-mqtt-brokers/+/site-hub"),
        # Its own broker: what the simulator is told of the site's broker must not matter.
        hub("hub-own", "sim-mqtt-brokers/own-hub", broker={"host": mosquitto.host,
                                                           "port": mosquitto.port}),
    )
    site_broker = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    async with subscribed(mosquitto, "sim-mqtt-brokers/#") as client:
        async with SiteSimulator(site, mqtt=site_broker) as sim:
            sim.device("hub-site").set("pressure", 8.0, hold=True)
            sim.device("hub-own").set("pressure", 16.0, hold=True)
            seen: dict[str, Any] = {}
            while len(seen) < 2:
                topic, document = await next_document(client)
                seen[topic] = document
        assert seen["sim-mqtt-brokers/hub-site/site-hub"]["ch"][0]["ua"] == 8000
        assert seen["sim-mqtt-brokers/own-hub"]["ch"][0]["ua"] == 16000
        # The override wins over the site broker the simulator was given.
        async with SiteSimulator(site, mqtt=nowhere) as sim:
            sim.device("hub-own").set("spare", 7.0, hold=True)
            async with asyncio.timeout(10):
                while True:
                    topic, document = await next_document(client)
                    if topic.endswith("own-hub") and document["ch"][1]["ua"] == 7000:
                        break
            publisher = sim.publisher("hub-site")
            assert publisher.broker == nowhere
            assert not publisher.connected.is_set()


async def test_silent_and_answer_steps_stop_and_resume_publishing(mosquitto: Broker) -> None:
    site = mqtt_site("sim-mqtt-silent", mosquitto, hub("hub-1", "sim-mqtt-silent/hub-1"))
    async with subscribed(mosquitto, "sim-mqtt-silent/#") as client, SiteSimulator(site) as sim:
        publisher = sim.publisher("hub-1")
        await next_document(client)
        sim.apply(Step(at=0, device="hub-1", action=Action.SILENT))
        assert publisher.silent
        sim.device("hub-1").set("spare", 5.0, hold=True)
        sim.apply(Step(at=0, device="hub-1", action=Action.ANSWER))
        assert not publisher.silent
        # Messages already on their way may come first; the resumed state arrives after them.
        async with asyncio.timeout(10):
            while (await next_document(client))[1]["ch"][1]["ua"] != 5000:
                pass


async def test_modbus_only_steps_are_refused_for_mqtt_devices(mosquitto: Broker) -> None:
    site = mqtt_site("sim-mqtt-modbus-only", mosquitto, hub("hub-1", "sim-mqtt-modbus-only/x"))
    scenario = parse_scenario({
        "name": "mqtt-exception", "duration": 5,
        "steps": [{"at": 1, "device": "hub-1", "action": "exception", "code": 6},
                  {"at": 2, "device": "hub-1", "action": "delay", "seconds": 1},
                  {"at": 3, "device": "hub-1", "action": "silent"}],
    })
    with pytest.raises(ScenarioError) as caught:
        scenario.check(site)
    assert [str(problem) for problem in caught.value.problems] == [
        "steps[0].action: 'exception' is a Modbus answer; 'hub-1' publishes MQTT"
        " (silent and answer apply)",
        "steps[1].action: 'delay' is a Modbus answer; 'hub-1' publishes MQTT"
        " (silent and answer apply)",
    ]
    async with SiteSimulator(site) as sim:
        with pytest.raises(SimulatorError, match="'exception' is a Modbus answer"):
            sim.apply(Step(at=0, device="hub-1", action=Action.EXCEPTION, code=6))
        with pytest.raises(SimulatorError, match="no server answers"):
            sim.fault("hub-1")


def test_without_serving_there_are_no_publishers() -> None:
    site = mqtt_site("sim-mqtt-noserve", None, hub("hub-1", "x/hub-1"))
    sim = SiteSimulator(site, serve=False)
    assert sim.publishers == {}
    with pytest.raises(SimulatorError, match="no MQTT publisher for 'hub-1'"):
        sim.publisher("hub-1")


def test_two_points_on_one_json_path_fail_at_start() -> None:
    device = hub("hub-1", "x/hub-1")
    device["points"][1]["path"] = "ch[0].ua"
    site = mqtt_site("sim-mqtt-clash", None, device)
    with pytest.raises(SimulatorError, match=r"ch\[0\]\.ua is another point's place"):
        SiteSimulator(site)


def test_a_serial_port_for_a_line_the_site_has_not_is_refused() -> None:
    site = parse_site({
        "site": {"id": "sim-serial-ports"},
        "lines": [{"id": "annex", "type": "rtu-over-tcp", "host": "127.0.0.1",
                   "port": free_port()}],
        "devices": [{"id": "ai-1", "profile": "ai-4-20ma-8ch",
                     "transport": {"type": "rtu", "line": "annex"}}],
    })
    for line in ("riser", "annex"):
        with pytest.raises(SimulatorError, match=f"'{line}' is not one of the site's serial"):
            SiteSimulator(site, serial_ports={line: "/dev/null"})
