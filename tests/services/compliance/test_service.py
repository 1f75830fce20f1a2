"""The rules service runs the compliance engine beside the rules: a real Mosquitto, real SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from fireroom import topics
from fireroom.clock import SystemClock
from fireroom.config import MqttConfig
from fireroom.domain import Severity
from fireroom.telemetry import encode
from services.compliance import (
    FAILED_TEST,
    ComplianceEngine,
    RecordStore,
    Result,
    site_obligations,
)
from services.incidents import IncidentStore
from services.rules.service import RulesService
from tests.servers import Broker
from tests.services.compliance.sites import CHURN_PRESSURE, make_site, pump_values, telemetry
from tests.services.helpers import wait_for

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def running(service: RulesService) -> AsyncIterator[None]:
    task = asyncio.create_task(service.run(), name="test.rules")
    try:
        await wait_for(lambda: service.stats().get("connects"), within=10)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish_run(client: aiomqtt.Client, site: str, start: float, minutes: int) -> None:
    """A manual test run of pump-1, one message a minute (the run's own timestamps)."""
    topic = topics.telemetry(site, "pump-1")
    messages = [telemetry("pump-1", start - 60, site, **pump_values(mode="manual"))]
    for minute in range(minutes):
        values = pump_values(
            running=True,
            mode="manual",
            cause="manual",
            pressure=CHURN_PRESSURE if minute else 0.62,
        )
        messages.append(telemetry("pump-1", start + 60 * minute, site, **values))
    messages.append(telemetry("pump-1", start + 60 * minutes, site, **pump_values()))
    for message in messages:
        await client.publish(topic, encode(message), qos=1)


async def test_test_runs_become_records_and_failed_tests(mosquitto: Broker, tmp_path: Path) -> None:
    site_id = f"cmp-{uuid.uuid4().hex[:8]}"
    site = make_site(site_id, presets=["gb50974"], roles={"jockey_pump": ["jockey-1"]})
    clock = SystemClock()
    with (
        IncidentStore(tmp_path / "fireroom.sqlite3", clock) as store,
        RecordStore(tmp_path / "compliance.sqlite3", clock) as records,
    ):
        engine = ComplianceEngine(site, site_obligations(site), clock, records)
        mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
        service = RulesService(site, mqtt, store, clock=clock, compliance=engine)
        async with running(service), aiomqtt.Client(mosquitto.host, mosquitto.port) as gateway:
            now = time.time()
            await publish_run(gateway, site_id, now - 3600, minutes=12)
            [credited] = await wait_for(lambda: records.list(obligation="pump-test-run"))
            assert credited.result is Result.PASS
            assert credited.device == "pump-1"
            assert credited.figures["run_minutes"] == 12.0
            assert store.list(rule=FAILED_TEST) == []

            await publish_run(gateway, site_id, now - 600, minutes=4)
            [failed] = await wait_for(lambda: store.list(rule=FAILED_TEST))
            assert failed.subject == f"{site_id}/pump-1:pump-test-run"
            assert failed.severity is Severity.MAJOR
            assert "ran 4.0 min, less than the 10 min required" in failed.message
            assert [r.result for r in records.list(obligation="pump-test-run")] == [
                Result.FAIL,
                Result.PASS,
            ]
