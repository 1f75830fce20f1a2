"""The gateway with its InfluxDB sink and metrics endpoint, against real pymodbus servers,
Mosquitto and InfluxDB 1.x."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import httpx
import pytest

from fireroom.config import MqttConfig
from gateway import Gateway
from gateway.backoff import Backoff
from gateway.influx import BufferedWriter, DiskBuffer, InfluxSink, V1Transport
from tests.gateway.influx.helpers import count_points, create_database, query, unique_name
from tests.gateway.modbus import make_site, sim_server, write_profile
from tests.servers import Broker, HttpServer, free_port

pytestmark = pytest.mark.integration


async def test_gateway_writes_readings_and_serves_metrics(
    mosquitto: Broker, influxdb: HttpServer, tmp_path: Path
) -> None:
    database = unique_name("gateway")
    create_database(influxdb.url, database)
    live, dead = free_port(), free_port()
    site = make_site("gw-influx", write_profile(tmp_path / "profiles"),
                     {"unit-1": live, "unit-2": dead})
    writer = BufferedWriter(V1Transport(influxdb.url, database=database),
                            DiskBuffer(tmp_path / "b.sqlite3", max_bytes=10**8),
                            flush_interval=0.1, backoff=Backoff(initial=0.05, cap=0.3))
    gateway = Gateway(site, MqttConfig(host=mosquitto.host, port=mosquitto.port),
                      rng=random.Random(1), sink=InfluxSink(site, writer), metrics_port=0)
    assert gateway.metrics is not None
    async with sim_server(live):
        task = asyncio.create_task(gateway.run(), name="test.gateway")
        try:
            async with asyncio.timeout(30):
                await gateway.metrics.serving.wait()
                while writer.stats.points_written < 50:
                    await asyncio.sleep(0.1)
            async with httpx.AsyncClient(timeout=5) as client:
                text = (await client.get(f"http://127.0.0.1:{gateway.metrics.port}/metrics")).text
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert 'fireroom_device_online{device="unit-1"} 1' in text
    assert 'fireroom_device_online{device="unit-2"} 0' in text
    assert 'fireroom_device_errors_total{device="unit-2",kind="connection"}' in text
    assert 'fireroom_device_rtt_seconds{device="unit-1",quantile="0.99"}' in text
    assert 'fireroom_influx_points_written_total{writer="readings"}' in text
    assert 'fireroom_influx_up{writer="readings"} 1' in text
    assert count_points(influxdb.url, database) >= 50
    pressure = query(influxdb.url, database,
                     "SELECT last(value) FROM reading"
                     " WHERE device = 'unit-1' AND point = 'pressure'")
    assert pressure[0][1] == 0.62
    lost = query(influxdb.url, database,
                 "SELECT count(quality) FROM reading"
                 " WHERE device = 'unit-2' AND quality = 'comm_lost'")
    assert lost[0][1] > 0
