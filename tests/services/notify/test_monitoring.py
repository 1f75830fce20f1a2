"""The notifier watches the monitoring chain: the rules service and the broker, on real Mosquitto,
with alerts to a real webhook receiver; and provisional (unstored) alarms."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest

from fireroom import topics
from fireroom.config import MqttConfig
from services.incidents import IncidentStore
from tests.servers import Broker, run_mosquitto
from tests.services.helpers import wait_for
from tests.services.notify.receivers import HttpReceiver
from tests.services.notify.support import beating, fire, notify_site, running, unique_site

pytestmark = pytest.mark.integration
FAST = {"heartbeat_seconds": 0.2, "gone_after_seconds": 1}


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


def _site(site_id: str, http: HttpReceiver, *, mqtt_channel: bool = False) -> Any:
    channels: list[dict[str, Any]] = [{"id": "hook", "type": "webhook", "url": http.url()}]
    if mqtt_channel:
        channels.append({"id": "bus", "type": "mqtt", "topic": "alerts/{site}", "timeout": 0.5})
    return notify_site(
        site_id, channels, [{"channels": [c["id"] for c in channels]}],
        monitoring=FAST, retry={"max_attempts": 1000, "initial_seconds": 0.05,
                                "max_seconds": 0.2},
        poll_seconds=0.1,
    )


def _alerts(http: HttpReceiver, subject: str, event: str = "raised") -> list[dict[str, Any]]:
    return [r.body for r in http.requests
            if r.body["incident"]["subject"] == subject and r.body["event"] == event]


def _open(store: IncidentStore, subject: str) -> Any:
    found = [i for i in store.open_incidents() if i.subject == subject]
    return found[0] if found else None


async def test_rules_service_gone_raises_and_alerts_then_clears(
    mosquitto: Broker, http: HttpReceiver, tmp_path: Path
) -> None:
    site_id = unique_site()
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    subject = f"{site_id}/rules"
    with IncidentStore(tmp_path / "incidents.sqlite3") as store:
        async with running(_site(site_id, http), store, tmp_path / "outbox.sqlite3", mqtt=mqtt,
                           supervise=True) as service:
            async with beating(mqtt, site_id):
                await wait_for(service.chain.rules_ok)
                assert _open(store, subject) is None
            # The rules service said goodbye: the notifier raises at once and alerts.
            alert = (await wait_for(lambda: _alerts(http, subject)))[0]
            incident = _open(store, subject)
            assert incident.rule == "monitoring_degraded"
            assert incident.severity.value == "critical"
            assert incident.message.startswith("Monitoring is down: the rules service is gone")
            assert incident.message.endswith("watch the fire alarm panel itself")
            assert alert["incident"]["id"] == incident.id
            async with beating(mqtt, site_id):
                await wait_for(lambda: _open(store, subject) is None or
                               _open(store, subject).state.value == "cleared_unacked")
                await wait_for(lambda: _alerts(http, subject, "cleared"))
            assert len(_alerts(http, subject)) == 1  # raised once, not on every check


async def test_rules_service_never_heard_or_degraded(
    mosquitto: Broker, http: HttpReceiver, tmp_path: Path
) -> None:
    site_id = unique_site()
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    subject = f"{site_id}/rules"
    with IncidentStore(tmp_path / "incidents.sqlite3") as store:
        async with running(_site(site_id, http), store, tmp_path / "outbox.sqlite3", mqtt=mqtt,
                           supervise=True):
            # Nothing beats: after the window the silence itself is the alarm.
            alert = (await wait_for(lambda: _alerts(http, subject)))[0]
            assert "not heard for" in alert["incident"]["message"]
            async with beating(mqtt, site_id):
                await wait_for(lambda: _alerts(http, subject, "cleared"))
            store.acknowledge(_open(store, subject).id, by="op1")
            async with beating(mqtt, site_id, degraded="incident store unwritable"):
                await wait_for(lambda: _open(store, subject) is not None)
                assert "failing (incident store unwritable)" in _open(store, subject).message


async def test_broker_gone_alerts_by_webhook(http: HttpReceiver, tmp_path: Path) -> None:
    site_id = unique_site()
    subject = f"{site_id}/broker"
    with IncidentStore(tmp_path / "incidents.sqlite3") as store, ExitStack() as dedicated:
        broker = dedicated.enter_context(run_mosquitto(tmp_path / "broker"))
        mqtt = MqttConfig(host=broker.host, port=broker.port)
        async with (
            running(_site(site_id, http, mqtt_channel=True), store, tmp_path / "outbox.sqlite3",
                    mqtt=mqtt, supervise=True) as service,
            beating(mqtt, site_id),
        ):
            await wait_for(service.chain.rules_ok)
            await wait_for(lambda: not service.chain.problems())
            dedicated.close()  # stops this test's own Mosquitto
            alert = (await wait_for(lambda: _alerts(http, subject)))[0]
            await wait_for(lambda: service.stats().get("failed", 0) >= 1)
        assert "the MQTT broker is unreachable" in alert["incident"]["message"]
        assert _open(store, subject).rule == "monitoring_degraded"
    # The MQTT channel needs the broker: it failed while the webhook delivered.
    assert {r.path for r in http.requests} == {"/hook"}


async def test_provisional_alarm_alerts_once_with_its_own_key(
    mosquitto: Broker, http: HttpReceiver, tmp_path: Path
) -> None:
    site_id = unique_site()
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    provisional = {
        "event": "raised", "stored": False,
        "incident": {"id": None, "site": site_id, "rule": "fire_alarm",
                     "subject": "facp-1/L1-SD001", "device": "facp-1", "point": "L1-SD001",
                     "severity": "critical", "state": "active_unacked",
                     "message": "Fire at facp-1/L1-SD001", "count": 1, "detail": {}},
    }
    with IncidentStore(tmp_path / "incidents.sqlite3") as store:
        async with (
            running(_site(site_id, http), store, tmp_path / "outbox.sqlite3", mqtt=mqtt) as svc,
            aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
        ):
            await wait_for(lambda: svc.stats().get("connects"))
            for _ in range(2):  # a redelivery
                await client.publish(topics.incidents(site_id), orjson.dumps(provisional), qos=1)
            await wait_for(lambda: len(http.requests) == 1)
            # Then the alarm is stored: its own alert, not mistaken for the provisional one.
            stored = fire(store, site_id)
            await client.publish(topics.incidents(site_id), orjson.dumps(stored.to_dict()), qos=1)
            await wait_for(lambda: len(http.requests) == 2)
            await wait_for(lambda: svc.stats().get("received") == 3)
            await wait_for(lambda: svc.stats()["pending"] == 0)
    first, second = (r.body for r in http.requests)
    assert first["stored"] is False
    assert first["incident"]["id"] is None
    assert second["incident"]["id"] == stored.incident.id
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        keys = sorted(row[0] for row in db.execute("SELECT key FROM alert"))
    assert keys[0].startswith(f"{site_id}/{stored.incident.id}/active1/")
    assert keys[1].startswith(f"{site_id}/pending/fire_alarm/facp-1/L1-SD001/")
