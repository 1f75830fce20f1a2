"""Each channel against a real receiver on loopback: webhook, chat apps, SMTP, MQTT."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import orjson
import pytest

from fireroom import topics
from fireroom.config import MqttConfig
from services.incidents import IncidentStore
from tests.servers import Broker
from tests.services.helpers import wait_for
from tests.services.notify.receivers import HttpReceiver, SmtpReceiver
from tests.services.notify.support import fire, notify_site, running, unique_site


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IncidentStore]:
    with IncidentStore(tmp_path / "incidents.sqlite3") as incidents:
        yield incidents


def _sign(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


async def test_generic_webhook_gets_the_change_json_and_text(
    http: HttpReceiver, store: IncidentStore, tmp_path: Path
) -> None:
    site_id = unique_site()
    site = notify_site(
        site_id,
        [{"id": "hook", "type": "webhook", "url": http.url(), "headers": {"x-token": "t1"}}],
        [{"match": {"severity": ["critical"]}, "channels": ["hook"], "recipients": ["eng-a"]}],
    )
    change = fire(store, site_id)
    async with running(site, store, tmp_path / "outbox.sqlite3") as service:
        await wait_for(lambda: service.stats().get("sent"))
    [request] = http.requests
    assert request.headers["x-token"] == "t1"
    assert request.body["event"] == "raised"
    assert request.body["incident"] == change.incident.to_dict()
    assert request.body["text"] == "[CRITICAL] facp-1/L1-SD001: raised"
    assert request.body["alert"]["recipients"][0]["name"] == "Wang Wei"


async def test_chat_formats_and_signatures(
    http: HttpReceiver, store: IncidentStore, tmp_path: Path
) -> None:
    site_id = unique_site()
    channels = [
        {"id": "wecom", "type": "wecom", "url": http.url("/wecom?key=k1")},
        {"id": "ding", "type": "dingtalk", "url": http.url("/ding?access_token=a1"),
         "secret": "SECding"},
        {"id": "feishu", "type": "feishu", "url": http.url("/feishu"), "secret": "SECfs"},
        {"id": "slack", "type": "slack", "url": http.url("/slack")},
    ]
    site = notify_site(site_id, channels, [{"channels": [c["id"] for c in channels]}])
    fire(store, site_id)
    async with running(site, store, tmp_path / "outbox.sqlite3") as service:
        await wait_for(lambda: service.stats().get("sent") == len(channels))
    got = {request.path: request for request in http.requests}
    assert got["/wecom"].query == {"key": "k1"}
    assert got["/wecom"].body["msgtype"] == "markdown"
    assert "**[CRITICAL] facp-1/L1-SD001: raised**" in got["/wecom"].body["markdown"]["content"]

    ding = got["/ding"]
    assert ding.body["msgtype"] == "markdown"
    assert ding.body["markdown"]["title"] == "[CRITICAL] facp-1/L1-SD001: raised"
    assert ding.query["access_token"] == "a1"
    timestamp = ding.query["timestamp"]
    assert ding.query["sign"] == _sign(b"SECding", f"{timestamp}\nSECding".encode())

    feishu = got["/feishu"].body
    assert feishu["msg_type"] == "text"
    assert "Fire at facp-1/L1-SD001" in feishu["content"]["text"]
    assert feishu["sign"] == _sign(f"{feishu['timestamp']}\nSECfs".encode(), b"")

    slack = got["/slack"].body
    assert slack["text"] == "[CRITICAL] facp-1/L1-SD001: raised"
    assert slack["blocks"][0]["type"] == "section"


async def test_chat_app_error_code_is_a_failure(
    http: HttpReceiver, store: IncidentStore, tmp_path: Path
) -> None:
    http.answer = {"errcode": 310000, "errmsg": "sign not match"}
    site_id = unique_site()
    site = notify_site(
        site_id, [{"id": "ding", "type": "dingtalk", "url": http.url("/ding"), "secret": "s"}],
        [{"channels": ["ding"]}],
        retry={"max_attempts": 2, "initial_seconds": 0.01, "max_seconds": 0.02},
    )
    fire(store, site_id)
    async with running(site, store, tmp_path / "outbox.sqlite3") as service:
        stats = await wait_for(lambda: (s := service.stats()).get("dead") and s)
    assert stats["failed"] == 2
    assert stats["pending"] == 0
    assert stats.get("sent", 0) == 0
    assert len(http.requests) == 2


async def test_smtp_mail_arrives_with_subject_body_and_recipients(
    store: IncidentStore, tmp_path: Path
) -> None:
    smtp = SmtpReceiver().start()
    try:
        site_id = unique_site()
        site = notify_site(
            site_id,
            [{"id": "mail", "type": "smtp", "host": "127.0.0.1", "port": smtp.port,
              "sender": "fireroom@example.com"}],
            [{"channels": ["mail"], "recipients": ["eng-a", "eng-b"]}],
        )
        fire(store, site_id)
        async with running(site, store, tmp_path / "outbox.sqlite3") as service:
            await wait_for(lambda: service.stats().get("sent") == 2)
    finally:
        smtp.stop()
    by_rcpt = {tuple(mail.recipients): mail for mail in smtp.mails}
    assert set(by_rcpt) == {("wang@example.com",), ("li@example.com",)}
    mail = by_rcpt[("wang@example.com",)]
    assert mail.sender == "fireroom@example.com"
    assert "Subject: [CRITICAL] facp-1/L1-SD001: raised" in mail.data
    assert "Fire at facp-1/L1-SD001" in mail.data
    assert "Device: facp-1" in mail.data


@pytest.mark.integration
async def test_mqtt_channel_and_incident_topic_end_to_end(
    mosquitto: Broker, http: HttpReceiver, store: IncidentStore, tmp_path: Path
) -> None:
    """A change published as the rules service does reaches the webhook and the alert topic."""
    site_id = unique_site()
    site = notify_site(
        site_id,
        [{"id": "hook", "type": "webhook", "url": http.url()},
         {"id": "bus", "type": "mqtt", "topic": "fireroom/v1/{site}/alerts"}],
        [{"match": {"severity": ["critical"], "rules": ["fire_alarm"]},
          "channels": ["hook", "bus"]}],
        poll_seconds=600,  # only the MQTT message can deliver within the test
    )
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    async with running(site, store, tmp_path / "outbox.sqlite3", mqtt=mqtt) as service, \
            aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await wait_for(lambda: service.stats().get("connects"))
        # The first poll ran at start with no incident; from here only MQTT carries changes.
        await client.subscribe(f"fireroom/v1/{site_id}/alerts", qos=1)
        change = fire(store, site_id)
        payload = orjson.dumps(change.to_dict())
        await client.publish(topics.incidents(site_id), payload, qos=1)
        await client.publish(topics.incidents(site_id), payload, qos=1)  # a redelivery
        await client.publish(topics.incidents(site_id), b"not json", qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(client.messages))
        await wait_for(lambda: service.stats().get("rejected") and service.stats()["sent"] == 2)
        stats = service.stats()
    alert = orjson.loads(message.payload)  # type: ignore[arg-type]
    assert alert["incident"]["id"] == change.incident.id
    assert alert["text"] == "[CRITICAL] facp-1/L1-SD001: raised"
    assert [r.body["incident"]["id"] for r in http.requests] == [change.incident.id]
    assert stats["duplicates"] >= 2
