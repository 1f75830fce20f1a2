"""GET /monitoring and /health as the API sees the monitoring chain, over real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from fireroom.clock import SystemClock
from fireroom.config import MonitoringConfig, MqttConfig
from services.api import create_app
from services.api.changes import Changes
from services.api.monitor import Monitor
from services.incidents import IncidentStore
from tests.servers import Broker, run_mosquitto
from tests.services.auth.accounts import login, make_users
from tests.services.helpers import FakeClock, wait_for
from tests.services.notify.support import beating, unique_site

pytestmark = pytest.mark.integration
FAST = MonitoringConfig(heartbeat_seconds=0.2, gone_after_seconds=1)


@contextlib.asynccontextmanager
async def api(
    tmp_path: Path, site: str, mqtt: MqttConfig
) -> AsyncIterator[tuple[httpx.AsyncClient, Monitor]]:
    monitor = Monitor(site, mqtt, FAST, changes=Changes(), clock=SystemClock())
    with (
        IncidentStore(tmp_path / "incidents.db") as store,
        make_users(tmp_path / "users.sqlite3", FakeClock()) as users,
    ):
        app = create_app(store, site_id=site, users=users, monitor=monitor)
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://api") as client,
            asyncio.TaskGroup() as group,
        ):
            task = group.create_task(monitor.run(), name="test.api.monitor")
            client.headers.update(await login(client, "alice"))
            try:
                yield client, monitor
            finally:
                task.cancel()


async def _monitoring(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/monitoring")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def _status(client: httpx.AsyncClient) -> str:
    return str((await _monitoring(client))["status"])


async def until(client: httpx.AsyncClient, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = await _monitoring(client)
        return body if body["status"] == status else None

    deadline = asyncio.get_running_loop().time() + 10
    while (body := await check()) is None:
        assert asyncio.get_running_loop().time() < deadline, f"monitoring never {status}"
        await asyncio.sleep(0.05)
    return body


async def test_rules_gone_or_degraded_turns_monitoring_and_health(
    tmp_path: Path, mosquitto: Broker
) -> None:
    site = unique_site()
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    async with api(tmp_path, site, mqtt) as (client, monitor):
        async with beating(mqtt, site), beating(mqtt, site, f"gw-{site}"):
            body = await until(client, "ok")
            assert body["rules"]["state"] == "alive"
            assert body["broker"]["state"] == "connected"
            await wait_for(lambda: f"gw-{site}" in monitor.status()["gateways"])
            health = await client.get("/api/v1/health")
            assert health.status_code == 200
            assert health.json()["monitoring"] == "ok"
        body = await until(client, "down")  # the rules service said goodbye
        assert body["message"].startswith("Monitoring is down: the rules service is gone")
        assert body["message"].endswith("watch the fire alarm panel itself")
        assert body["rules"]["state"] == "gone"
        assert body["gateways"][f"gw-{site}"]["state"] == "gone"
        health = await client.get("/api/v1/health")
        assert health.status_code == 503
        assert "the rules service is gone" in health.json()["monitoring"]
        async with beating(mqtt, site, degraded="incident store unwritable"):
            body = await until(client, "down")
            await wait_for(lambda: monitor.status()["rules"]["state"] == "degraded")
            health = await client.get("/api/v1/health")
        assert health.status_code == 503
        assert "failing (incident store unwritable)" in health.json()["monitoring"]


async def test_broker_gone_turns_monitoring(tmp_path: Path) -> None:
    site = unique_site()
    with ExitStack() as dedicated:
        broker = dedicated.enter_context(run_mosquitto(tmp_path / "broker"))
        mqtt = MqttConfig(host=broker.host, port=broker.port)
        async with api(tmp_path, site, mqtt) as (client, monitor), beating(mqtt, site):
            await until(client, "ok")
            dedicated.close()  # stops this test's own Mosquitto
            # (Mosquitto may send the rules service's last will as it shuts down: the rules
            # service can read as gone a moment before the broker is.)
            await wait_for(lambda: monitor.status()["broker"]["problem"])
            body = await _monitoring(client)
            health = await client.get("/api/v1/health")
    assert body["status"] == "down"
    assert "the MQTT broker is unreachable" in body["message"]
    assert body["broker"]["state"] == "unreachable"
    assert body["rules"]["state"] == "unknown"  # cut off from its heartbeats: not judged
    assert health.status_code == 503


async def test_without_mqtt_monitoring_is_unknown(tmp_path: Path) -> None:
    with (
        IncidentStore(tmp_path / "incidents.db") as store,
        make_users(tmp_path / "users.sqlite3", FakeClock()) as users,
    ):
        transport = httpx.ASGITransport(app=create_app(store, users=users))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            client.headers.update(await login(client, "alice"))
            body = await _monitoring(client)
            health = await client.get("/api/v1/health")
    assert body["status"] == "unknown"
    assert health.status_code == 200
