"""MQTT-native devices through the whole gateway, on a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest

from fireroom import topics
from fireroom.config import MqttConfig, Site, parse_site
from fireroom.domain import Quality
from gateway import Gateway
from gateway.decode import PointDecoder
from gateway.metrics import device_metrics, render
from gateway.mqtt_devices import GarbageValue, JsonPoint
from simulators.devices import SimulatedDevice
from simulators.facp import FacpPanel
from simulators.mqtt_device import MqttDeviceSimulator, json_image
from simulators.server import DeviceServer
from tests.gateway.test_service import Collector, Message, collect
from tests.servers import Broker, free_port, run_mosquitto

pytestmark = pytest.mark.integration


def documents(inbox: Collector, device: str) -> list[dict[str, Any]]:
    """The telemetry payloads of one device, as JSON documents."""
    return [m.json() for m in inbox.messages if m.topic.endswith(f"/telemetry/{device}")]


@contextlib.asynccontextmanager
async def running(site: Site, broker: Broker) -> AsyncIterator[Gateway]:
    """A gateway that publishes and hears devices: yielded once both sides are connected."""
    gw = Gateway(site, config(broker), rng=random.Random(7))
    task = asyncio.create_task(gw.run(), name="test-gateway")
    try:
        async with asyncio.timeout(10):
            await gw.mqtt_devices.subscribed()
            while not gw.publisher.connected:  # scans before that are dropped by design
                await asyncio.sleep(0.01)
        yield gw
        assert not task.done(), "the gateway stopped"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def config(broker: Broker) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port)


def is_telemetry(device: str, check: Callable[[dict[str, Any]], bool] = lambda _: True
                 ) -> Callable[[Message], bool]:
    return lambda m: m.topic.endswith(f"/telemetry/{device}") and check(m.json())


def is_status(device: str, state: str, after: float = 0.0) -> Callable[[Message], bool]:
    return lambda m: (m.topic.endswith(f"/status/{device}") and m.json()["state"] == state
                      and m.json()["since"] > after)


def panel(device_id: str, topic: str, *, poll_interval: float = 0.2, **extra: Any
          ) -> dict[str, Any]:
    """A GB/T 26875.3 panel publishing its status words as JSON."""
    return {
        "id": device_id, "profile": "gbt26875-panel", "poll_interval": poll_interval,
        "transport": {"type": "mqtt", "topic": topic, **extra},
        "points": [
            {"name": "system_status", "path": "status.system"},
            {"name": "fire_count", "path": "counts.fire"},
            {"name": "L1-SD001", "index": 0, "path": "points[0].status"},
            {"name": "L1-SD002", "index": 1, "path": "points[1].status"},
        ],
    }


def simulated(
    site: Site, device_id: str, broker: Broker, **options: Any
) -> MqttDeviceSimulator:
    device = json_image(site.device(device_id), site.profile_of(device_id),
                        site.points[device_id])
    FacpPanel(device)  # points normal, system word consistent
    return MqttDeviceSimulator(device, config(broker), **options)


async def test_topic_filters_route_messages_and_paths_pick_points(mosquitto: Broker) -> None:
    site = parse_site({"site": {"id": "mqttdev-route"}, "devices": [
        {"id": "hub-a", "profile": "ai-4-20ma-8ch", "poll_interval": 30,
         "transport": {"type": "mqtt", "topic": "t/mqttdev-route/hub-a/#"},
         "points": [
             {"name": "pressure", "path": "sensors.pressure", "scale": 0.001, "unit": "MPa"},
             {"name": "loop", "index": 0, "path": "ch[1].ma", "scale": 1.0,
              "transmitter": {"low": 0, "high": 1.6, "unit": "MPa"}},
             {"name": "battery_low", "path": "battery.low", "table": "coil", "type": "coil"},
             {"name": "mode", "path": "$.mode", "enum": {0: "off", 1: "auto", 2: "manual"}},
             {"name": "module_status", "path": "diag"},
         ]},
        {"id": "hub-b", "profile": "ai-4-20ma-8ch", "poll_interval": 30,
         "transport": {"type": "mqtt", "topic": "t/mqttdev-route/+/b-state"},
         "points": [{"name": "level", "path": "level", "type": "f32", "unit": "m"}]},
    ]})
    sent = [
        ("t/mqttdev-route/hub-a/x/y", {  # hub-a only, though it holds a `level` too
            "sensors": {"pressure": 620}, "ch": [{}, {"ma": 12.0}], "battery": {"low": 1},
            "mode": "auto", "diag": 5, "level": 9.9}),
        ("t/mqttdev-route/hub-a/b-state", {"level": 3.25, "mode": 2}),  # both filters match
        ("t/mqttdev-route/other/thing", {"level": 1.0}),  # no device's
        ("t/mqttdev-route/zz/b-state", {"level": 2.5}),  # hub-b only
    ]
    async with collect(mosquitto, site.id) as inbox, running(site, mosquitto) as gw, \
            aiomqtt.Client(mosquitto.host, mosquitto.port) as device:
        for topic, document in sent:
            await device.publish(topic, orjson.dumps(document), qos=1)
        await inbox.wait_for(is_telemetry("hub-b", lambda t: t["seq"] == 2))
        await inbox.wait_for(is_telemetry("hub-a", lambda t: t["seq"] == 2))
        stats = gw.stats()
    a, b = documents(inbox, "hub-a"), documents(inbox, "hub-b")
    assert [t["seq"] for t in a] == [1, 2]
    assert a[0]["readings"] == {
        "pressure": [pytest.approx(0.62), "good"],
        "loop": [pytest.approx(0.8), "good", 12.0],
        "battery_low": [True, "good"],
        "mode": ["auto", "good"],
        "module_status": [["power_fault", "adc_fault"], "good"],
    }
    assert a[1]["readings"] == {"mode": ["manual", "good"]}  # only what the message held
    assert [t["readings"] for t in b] == [{"level": [3.25, "good"]}, {"level": [2.5, "good"]}]
    assert {t["site"] for t in a + b} == {site.id}
    for device_id in ("hub-a", "hub-b"):
        report = stats[device_id]
        assert report["state"] == "online"
        assert report["scans"] == 2
        assert sum(report["errors"].values()) == 0
        assert report["rtt_p50"] is None
        assert report["last_good"] is not None
    metrics = render(device_metrics(stats)).decode()
    assert 'fireroom_device_scans_total{device="hub-a"} 2' in metrics
    assert 'fireroom_device_online{device="hub-b"} 1' in metrics


WORDS = {
    "normal": 0b1,
    "fire": 0b10,
    "fault": 0b100,
    "disabled": 0b1000,
    "supervisory": 0b10000,
    "combined": 0b1 << 1 | 0b1 << 2 | 0b1 << 3 | 0b1 << 4 | 0b1 << 8 | 0b1 << 11,
    "not present": 0b1 << 15,
    "nothing set": 0,
}


@pytest.mark.parametrize("word", list(WORDS.values()), ids=list(WORDS))
@pytest.mark.parametrize("point", ["system_status", "L1-SD001"])
def test_status_words_decode_the_same_over_modbus_and_json(word: int, point: str) -> None:
    site = parse_site({"site": {"id": "mqttdev-words"}, "devices": [
        {"id": "modbus", "profile": "gbt26875-panel",
         "transport": {"type": "tcp", "host": "127.0.0.1", "port": 1502},
         "points": [{"name": "L1-SD001", "index": 0}]},
        panel("json", "vendor/panel"),
    ]})
    modbus = {spec.name: spec for spec in site.points["modbus"]}[point]
    json = {spec.name: spec for spec in site.points["json"]}[point]
    over_modbus = PointDecoder(modbus).decode([word])
    wire = orjson.loads(orjson.dumps({"w": word}))["w"]
    assert JsonPoint(json).reading(wire) == over_modbus
    assert JsonPoint(json).reading(float(word)) == over_modbus  # 3.0 is a whole word
    assert over_modbus.quality is Quality.GOOD


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (2.5, "2.5 is not a whole number"),
        (-2, "outside 0..65535"),
        (65536, "outside 0..65535"),
        ("fire", "'fire' is not a number"),
        (True, "a JSON boolean is not a number"),
        (None, "a JSON null is not a number"),
        ([2], "a JSON array is not a number"),
        ({"fire": True}, "a JSON object is not a number"),
    ],
)
def test_a_status_word_that_is_not_one_is_garbage(value: object, reason: str) -> None:
    site = parse_site({"site": {"id": "mqttdev-garbage"}, "devices": [panel("json", "p")]})
    point = JsonPoint(site.points["json"][0])
    with pytest.raises(GarbageValue, match=re.escape(reason)):
        point.reading(value)


async def test_json_panel_reports_fire_like_a_modbus_panel(mosquitto: Broker) -> None:
    port = free_port()
    site = parse_site({"site": {"id": "mqttdev-fire"}, "devices": [
        {"id": "facp-modbus", "profile": "gbt26875-panel", "poll_interval": 0.1, "timeout": 0.5,
         "transport": {"type": "tcp", "host": "127.0.0.1", "port": port},
         "points": [{"name": "L1-SD001", "index": 0}, {"name": "L1-SD002", "index": 1}]},
        panel("facp-json", "vendor/mqttdev-fire/+/state"),
    ]})
    image = SimulatedDevice(site.device("facp-modbus"), site.profile_of("facp-modbus"),
                            site.points["facp-modbus"])
    server = DeviceServer(image, "127.0.0.1", port)
    modbus_panel = FacpPanel(image)
    sim = simulated(site, "facp-json", mosquitto, interval=0.1)
    json_panel = FacpPanel(sim.device)
    for model in (modbus_panel, json_panel):
        model.set_point_state("L1-SD001", "fire")
        model.set_point_state("L1-SD002", "disabled")
    assert sim.topic == "vendor/mqttdev-fire/facp-json/state"
    await server.start()
    try:
        async with collect(mosquitto, site.id) as inbox, running(site, mosquitto), sim:
            fire = is_telemetry("facp-json", lambda t: "fire" in t["readings"]["system_status"][0])
            over_mqtt = await inbox.wait_for(fire)
            over_modbus = await inbox.wait_for(is_telemetry("facp-modbus"))
    finally:
        await server.stop()
    assert over_mqtt.topic == topics.telemetry(site.id, "facp-json")
    json_readings = over_mqtt.json()["readings"]
    modbus_readings = over_modbus.json()["readings"]
    for name in ("system_status", "fire_count", "L1-SD001", "L1-SD002"):
        assert json_readings[name] == modbus_readings[name], name
    assert json_readings["system_status"] == [["fire", "disabled"], "good"]
    assert json_readings["L1-SD001"] == [["fire"], "good"]
    assert json_readings["fire_count"] == [1, "good"]


async def test_silent_device_goes_offline_and_recovers(mosquitto: Broker) -> None:
    site = parse_site({"site": {"id": "mqttdev-silent"}, "devices": [
        panel("facp-json", "vendor/mqttdev-silent/+/state", poll_interval=0.2)]})
    sim = simulated(site, "facp-json", mosquitto, interval=0.1)
    points = {spec.name for spec in site.points["facp-json"]}
    async with collect(mosquitto, site.id) as inbox, running(site, mosquitto) as gw, sim:
        online = await inbox.wait_for(is_status("facp-json", "online"))
        await inbox.wait_for(is_telemetry("facp-json"))
        sim.silence()
        offline = await inbox.wait_for(is_status("facp-json", "offline"))
        since = offline.json()["since"]
        lost = await inbox.wait_for(is_telemetry(
            "facp-json", lambda t: t["ts"] >= since and set(t["readings"]) == points
            and all(r == [None, "comm_lost"] for r in t["readings"].values())))
        # Lost devices are published lost every interval, not once.
        again = await inbox.wait_for(is_telemetry(
            "facp-json", lambda t: t["seq"] > lost.json()["seq"]
            and t["readings"]["system_status"] == [None, "comm_lost"]))
        sim.resume()
        back = await inbox.wait_for(is_status("facp-json", "online", after=since))
        good = await inbox.wait_for(is_telemetry(
            "facp-json", lambda t: t["seq"] > again.json()["seq"]
            and t["readings"]["system_status"][1] == "good"))
        stats = gw.stats()["facp-json"]
    assert online.json()["since"] < since < back.json()["since"]
    assert offline.json()["reason"] == "no message for 0.6 s"
    assert good.json()["readings"]["system_status"] == [["normal"], "good"]
    assert stats["state"] == "online"
    assert stats["failed_scans"] >= 2
    seqs = [t["seq"] for t in documents(inbox, "facp-json")]
    assert seqs == sorted(seqs)


async def test_a_retained_message_does_not_bring_a_device_online(mosquitto: Broker) -> None:
    site = parse_site({"site": {"id": "mqttdev-retained"}, "devices": [
        panel("facp-json", "vendor/mqttdev-retained/+/state", poll_interval=0.2)]})
    sim = simulated(site, "facp-json", mosquitto)
    sim.silence()
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as device:
        # Whatever the device retained long ago is replayed on subscribing: no sign of life.
        await device.publish(sim.topic, sim.payload(), qos=1, retain=True)
        try:
            async with collect(mosquitto, site.id) as inbox, running(site, mosquitto) as gw, \
                    sim:
                offline = await inbox.wait_for(is_status("facp-json", "offline"))
                await sim.publish()
                await inbox.wait_for(is_status("facp-json", "online"))
                stats = gw.stats()["facp-json"]
        finally:
            await device.publish(sim.topic, b"", qos=1, retain=True)
    assert offline.json()["reason"] == "no message for 0.6 s"
    assert [m.json()["state"] for m in inbox.messages if "/status/" in m.topic][:1] == [
        "offline"]
    assert stats["scans"] == 1  # the live message only
    assert stats["errors"]["garbage"] == 0


async def test_garbage_is_counted_and_never_published_as_good(mosquitto: Broker) -> None:
    site = parse_site({"site": {"id": "mqttdev-junk"}, "devices": [
        panel("facp-json", "vendor/mqttdev-junk/+/state", poll_interval=5)]})
    sim = simulated(site, "facp-json", mosquitto)
    sim.silence()  # only the messages below

    def state(system: object, fire: object = 0) -> bytes:
        return orjson.dumps({"status": {"system": system}, "counts": {"fire": fire},
                             "points": [{"status": 1}, {"status": 1}]})

    garbage = [
        b"not json", b"[1, 2]", b'"a string"', b"", orjson.dumps({"other": 1}),  # no scan
        state("fire"), state(2.5), state(-2), state(70000), state(True),  # a bad word
        state(2, fire="many"),  # a string where a number belongs
    ]
    async with collect(mosquitto, site.id) as inbox, running(site, mosquitto) as gw, sim:
        for payload in garbage:
            await sim.publish(payload)
        await sim.publish(state(3, fire=1))
        last = await inbox.wait_for(is_telemetry("facp-json", lambda t: t["seq"] == 7))
        stats = gw.stats()["facp-json"]
    published = documents(inbox, "facp-json")
    assert [t["seq"] for t in published] == [1, 2, 3, 4, 5, 6, 7]
    for message in published[:5]:
        assert message["readings"]["system_status"] == [None, "bad"]
        assert message["readings"]["L1-SD001"] == [["normal"], "good"]
        assert message["readings"]["fire_count"] == [0, "good"]
    assert published[5]["readings"]["system_status"] == [["fire"], "good"]
    assert published[5]["readings"]["fire_count"] == [None, "bad"]
    assert last.json()["readings"]["system_status"] == [["normal", "fire"], "good"]
    assert stats["errors"]["garbage"] == 11
    assert stats["scans"] == 7
    assert stats["state"] == "online"


async def test_device_on_its_own_broker_survives_that_broker_restarting(
    mosquitto: Broker, tmp_path: Path
) -> None:
    port = free_port()
    site = parse_site({"site": {"id": "mqttdev-broker"}, "devices": [
        panel("facp-json", "vendor/mqttdev-broker/+/state", poll_interval=0.3,
              broker={"host": "127.0.0.1", "port": port})]})
    device_broker = Broker("127.0.0.1", port)
    first = run_mosquitto(tmp_path / "device-broker", port)
    await asyncio.to_thread(first.__enter__)
    stopped = False
    try:
        sim = simulated(site, "facp-json", device_broker, interval=0.1)
        async with collect(mosquitto, site.id) as inbox, running(site, mosquitto) as gw, sim:
            await inbox.wait_for(is_status("facp-json", "online"))
            await asyncio.to_thread(first.__exit__, None, None, None)
            stopped = True
            offline = await inbox.wait_for(is_status("facp-json", "offline"))
            since = offline.json()["since"]
            await inbox.wait_for(is_telemetry(
                "facp-json", lambda t: t["readings"]["system_status"] == [None, "comm_lost"]))
            lost = gw.stats()["facp-json"]
            again = run_mosquitto(tmp_path / "device-broker-again", port)
            await asyncio.to_thread(again.__enter__)
            try:
                await inbox.wait_for(is_status("facp-json", "online", after=since), within=20)
                await inbox.wait_for(is_telemetry(
                    "facp-json", lambda t: t["ts"] > since
                    and t["readings"]["system_status"][1] == "good"))
            finally:
                await asyncio.to_thread(again.__exit__, None, None, None)
            listener = gw.mqtt_devices.listeners[0]
    finally:
        if not stopped:
            await asyncio.to_thread(first.__exit__, None, None, None)
    assert listener.broker.port == port  # the device's broker, not the site's
    assert listener.connections >= 2
    assert lost["errors"]["connection"] >= 1
    assert offline.json()["reason"] == "no message for 0.9 s"


def test_json_point_needs_a_path() -> None:
    site = parse_site({"site": {"id": "mqttdev-nopath"}, "devices": [
        {"id": "modbus", "profile": "gbt26875-panel",
         "transport": {"type": "tcp", "host": "127.0.0.1", "port": 1502}}]})
    with pytest.raises(ValueError, match="has no JSON path"):
        JsonPoint(site.points["modbus"][0])
