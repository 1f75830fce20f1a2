from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import (
    Broker,
    HttpServer,
    run_influxdb,
    run_mosquitto,
    run_socat_pty_pair,
    run_victoria_metrics,
)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One real Mosquitto for the session; each test uses its own site id, hence topics."""
    with run_mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """One real InfluxDB 1.x for the session; each test uses its own database."""
    with run_influxdb(tmp_path_factory.mktemp("influxdb")) as server:
        yield server


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    with run_victoria_metrics(tmp_path_factory.mktemp("victoria-metrics")) as server:
        yield server


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A serial line made of two ptys joined by a real socat: (gateway end, simulator end)."""
    with run_socat_pty_pair(tmp_path / "pty") as ends:
        yield ends
