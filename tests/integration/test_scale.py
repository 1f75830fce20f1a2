"""A large site in one gateway process: 100 panels, 20,500 points, all delivered, all counted."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from fireroom import topics
from fireroom.config import MqttConfig, parse_site
from fireroom.telemetry import decode
from gateway import Gateway
from simulators import SiteSimulator
from tests.servers import Broker, free_port, listen_ports

pytestmark = pytest.mark.integration

DEVICES = 100
POINTS = 200  # per panel, besides the profile's 5 system points


def site_config(tmp_path: Path) -> dict[str, Any]:
    ports = listen_ports(DEVICES)
    return {
        "site": {"id": "scale"},
        "data_dir": str(tmp_path),
        "devices": [
            {
                "id": f"panel-{d:03d}",
                "profile": "gbt26875-panel",
                "transport": {"type": "tcp", "host": "127.0.0.1", "port": ports[d]},
                # One process serves the simulators and the gateway here: a relaxed rhythm.
                "poll_interval": 2.0,
                "timeout": 2.0,
                "points": [{"name": f"P{i:04d}", "index": i} for i in range(POINTS)],
            }
            for d in range(DEVICES)
        ],
    }


async def test_one_gateway_serves_100_devices_and_20000_points(
    mosquitto: Broker, tmp_path: Path
) -> None:
    site = parse_site(site_config(tmp_path))
    assert sum(len(points) for points in site.points.values()) == DEVICES * (POINTS + 5)
    metrics_port = free_port()
    gateway = Gateway(
        site,
        MqttConfig(host=mosquitto.host, port=mosquitto.port),
        rng=random.Random(1),
        metrics_port=metrics_port,
    )
    complete: set[str] = set()
    partial: list[str] = []
    async with SiteSimulator(site), aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe(topics.telemetry_filter(site.id))
        task = asyncio.create_task(gateway.run())
        try:
            async with asyncio.timeout(100):
                async for message in client.messages:
                    telemetry = decode(bytes(message.payload))  # type: ignore[arg-type]
                    good = all(r.quality.value == "good" for r in telemetry.readings)
                    if len(telemetry.readings) == POINTS + 5 and good:
                        complete.add(telemetry.device)
                    else:
                        partial.append(telemetry.device)
                    if len(complete) == DEVICES:
                        break
            async with httpx.AsyncClient() as http:
                scrape = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
            stats = gateway.stats()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert len(complete) == DEVICES, (len(complete), partial[:5])
    assert partial == []  # no device ever delivered a scan with a point missing or not good
    assert {report["state"] for report in stats.values()} == {"online"}
    assert sum(report["errors"]["timeout"] for report in stats.values()) == 0
    # Each panel's 205 points take three requests: the 5 system words, then the 200 point words
    # in two reads of at most 125 registers.
    assert {report["requests_per_scan"] for report in stats.values()} == {3}
    online = [line for line in scrape.splitlines()
              if line.startswith("fireroom_device_online{") and line.endswith(" 1")]
    assert len(online) == DEVICES
