from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dashboards.influx import Influx
from tests.dashboards.playback import Played, play
from tests.servers import Broker, HttpServer

# Shipped scenarios whose telemetry every panel is run against; each plays as its own site.
SCENARIOS = ["fire-alarm", "pump-fail-to-start", "sensor-wire-break", "device-silent",
             "device-recovers"]


@dataclass(frozen=True)
class Telemetry:
    influx: Influx
    played: dict[str, Played]


@pytest.fixture(scope="module")
def telemetry(
    mosquitto: Broker, influxdb: HttpServer, tmp_path_factory: pytest.TempPathFactory
) -> Telemetry:
    """The scenarios, played once for the module into a database of its own."""
    influx = Influx(influxdb.url, "dashboards")
    influx.create()
    directory: Path = tmp_path_factory.mktemp("dashboard-sites")
    # A thread of its own keeps this event loop apart from the one pytest-asyncio manages.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        played = pool.submit(asyncio.run, play(SCENARIOS, mosquitto, directory, influx)).result()
    return Telemetry(influx, played)
