"""Incident events in InfluxDB: the writer the rules service calls, and `fireroom demo` with
InfluxDB from the environment, readings and incidents both."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fireroom.domain import Severity
from gateway.backoff import Backoff
from gateway.influx import BufferedWriter, DiskBuffer, V1Transport
from services.incidents import IncidentStore
from services.incidents.influx import IncidentWriter
from tests.gateway.influx.helpers import (
    count_points,
    create_database,
    eventually,
    query,
    unique_name,
)
from tests.integration.sites import example_data
from tests.servers import Broker, HttpServer, free_port

pytestmark = pytest.mark.integration


class _FixedClock:
    """Every event at the same instant: the worst case for series that share a timestamp."""

    def now(self) -> float:
        return 1764130000.0

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_incident_events_are_written_once_each(
    influxdb: HttpServer, tmp_path: Path
) -> None:
    database = unique_name("incidents")
    create_database(influxdb.url, database)
    clock = _FixedClock()
    store = IncidentStore(tmp_path / "incidents.sqlite3", clock)
    writer = BufferedWriter(V1Transport(influxdb.url, database=database),
                            DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10**8),
                            name="incidents", flush_interval=0.05,
                            backoff=Backoff(initial=0.05, cap=0.3))
    incidents = IncidentWriter(writer, clock=clock)
    changes = [
        store.raise_incident(site="tower-a", rule="fire_alarm", subject=f"tower-a/facp-1/{p}",
                             severity=Severity.CRITICAL, message=f'Fire at "{p}"',
                             device="facp-1", point=p)
        for p in ("L1-SD001", "L1-SD002")
    ]
    changes.append(store.acknowledge(changes[0].incident.id, "operator1", "on my way"))
    cleared = store.clear("fire_alarm", "tower-a/facp-1/L1-SD002")
    assert cleared is not None
    changes.append(cleared)
    incidents(changes)
    task = asyncio.create_task(incidents.run(), name="test.incidents")
    try:
        assert await eventually(lambda: writer.stats.points_written == 4, 20)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        store.close()
    rows = query(influxdb.url, database,
                 "SELECT id, event, state, subject, message, rule, severity, device FROM incident")
    assert [row[1:4] for row in rows] == [
        [changes[0].incident.id, "raised", "active_unacked"],
        [changes[1].incident.id, "raised", "active_unacked"],
        [changes[0].incident.id, "acknowledged", "active_acked"],
        [changes[1].incident.id, "cleared", "cleared_unacked"],
    ]
    assert rows[0][4:] == ["tower-a/facp-1/L1-SD001", 'Fire at "L1-SD001"', "fire_alarm",
                           "critical", "facp-1"]
    assert len({row[0] for row in rows}) == 4  # one instant, four distinct timestamps


@pytest.mark.timeout(90)
def test_demo_writes_readings_and_incidents_to_influxdb(
    mosquitto: Broker, influxdb: HttpServer, tmp_path: Path
) -> None:
    database = unique_name("demo")
    create_database(influxdb.url, database)
    data = example_data(mosquitto, tmp_path / "data")
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = {**os.environ, "FIREROOM_INFLUX_URL": influxdb.url,
           "FIREROOM_INFLUX_DATABASE": database}
    result = subprocess.run(
        [sys.executable, "-m", "fireroom.cli", "demo", "--config", str(config),
         "--scenario", "fire-alarm", "--duration", "9", "--data-dir", str(tmp_path / "demo"),
         "--api-port", str(free_port()), "--mqtt-port", str(free_port())],
        capture_output=True, timeout=60, check=False, env=env,
    )
    log = result.stderr.decode()
    assert result.returncode == 0, log[-3000:]
    assert "readings to InfluxDB at" in log
    assert "incident events to InfluxDB at" in log
    assert count_points(influxdb.url, database) > 100
    raised = query(influxdb.url, database,
                   "SELECT subject, event FROM incident WHERE rule = 'fire_alarm'")
    assert [row[1:] for row in raised] == [["tower-a/facp-1/L1-SD003", "raised"]]
    fire = query(influxdb.url, database,
                 "SELECT count(quality) FROM reading WHERE point = 'L1-SD003' AND state =~ /fire/")
    assert fire
    assert fire[0][1] > 0
