"""The separate processes of a production install, each started as `fireroom ...` against a real
Mosquitto, and the one-process demo, as a user runs them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.integration.sites import example_data
from tests.servers import Broker, free_port, wait_for_port

pytestmark = pytest.mark.integration

FIREROOM = [sys.executable, "-m", "fireroom.cli"]


class Processes:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        with (self.directory / f"{name}.log").open("wb") as log:
            self.running[name] = subprocess.Popen(
                [*FIREROOM, *args], stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.running.items():
            try:
                codes[name] = process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    group = Processes(tmp_path)
    yield group
    group.stop_all()


def _poll(url: str, seconds: float, accept: Any, headers: dict[str, str]) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2, headers=headers).json()
        except httpx.HTTPError:
            last = None
        if last is not None and accept(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"{url} never satisfied the check; last answer {last!r}")


@pytest.mark.timeout(90)
def test_separate_processes_raise_and_acknowledge_a_fire(
    mosquitto: Broker, tmp_path: Path, processes: Processes
) -> None:
    data = example_data(mosquitto, tmp_path / "data")
    # The broker comes from the environment, as in a container: the file's port is wrong.
    data["mqtt"] = {"host": "127.0.0.1", "port": 9}
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = {"FIREROOM_MQTT_URL": f"mqtt://{mosquitto.host}:{mosquitto.port}"}
    api_port = free_port()
    processes.start("simulate", "simulate", "--config", str(config), "--scenario", "fire-alarm")
    for device in data["devices"]:
        wait_for_port("127.0.0.1", device["transport"]["port"])
    processes.start("rules", "rules", "--config", str(config), env=env)
    processes.start("gateway", "gateway", "--config", str(config), env=env)
    added = subprocess.run(
        [*FIREROOM, "user", "add", "--data-dir", data["data_dir"], "--username", "operator1",
         "--role", "operator", "--password-stdin"],
        input=b"kettle-smoke-2025\n", capture_output=True, timeout=30, check=False,
    )
    assert added.returncode == 0, added.stderr.decode()
    processes.start("notify", "notify", "--config", str(config), env=env)
    processes.start("api", "api", "--config", str(config), "--port", str(api_port))
    wait_for_port("127.0.0.1", api_port)
    base = f"http://127.0.0.1:{api_port}/api/v1"
    assert httpx.get(f"{base}/incidents", timeout=5).status_code == 401
    session = httpx.post(
        f"{base}/auth/login", json={"username": "operator1", "password": "kettle-smoke-2025"},
        timeout=5,
    )
    assert session.status_code == 200, session.text
    auth = {"Authorization": f"Bearer {session.json()['token']}"}

    listing = _poll(
        f"{base}/incidents?rule=fire_alarm", 30, lambda body: body.get("count", 0) >= 1, auth
    )
    incident = listing["data"][0]
    assert incident["subject"] == "tower-a/facp-1/L1-SD003"
    assert incident["state"] == "active_unacked"

    answer = httpx.post(
        f"{base}/incidents/{incident['id']}/ack",
        json={"by": "operator1", "comment": "smoke from a kettle, panel to be reset"},
        timeout=5,
        headers=auth,
    )
    assert answer.status_code == 200, answer.text
    shown = httpx.get(f"{base}/incidents/{incident['id']}", timeout=5, headers=auth).json()
    assert shown["state"] == "active_acked"
    assert shown["acked_by"] == "operator1"
    assert [event["kind"] for event in shown["events"]] == ["raised", "acknowledged"]
    health = httpx.get(f"{base}/health", timeout=5).json()
    assert health["status"] == "ok"
    assert httpx.get(f"http://127.0.0.1:{api_port}/openapi.json", timeout=5).status_code == 200
    obligations = httpx.get(f"{base}/obligations", timeout=5, headers=auth)
    assert obligations.status_code == 200, obligations.text
    assert "pump-test-run" in obligations.text

    # The example site routes critical incidents to an MQTT alert channel: the notifier process
    # took the fire alarm from the incidents topic and sent it.
    outbox = tmp_path / "data" / "notify-outbox.sqlite3"
    deadline = time.monotonic() + 15
    sent: list[tuple[str, str]] = []
    while not sent and time.monotonic() < deadline:
        time.sleep(0.2)
        if outbox.exists():
            with contextlib.closing(sqlite3.connect(outbox)) as db:
                query = "SELECT channel, state FROM alert WHERE state = 'sent'"
                sent = db.execute(query).fetchall()
    assert sent == [("alerts-topic", "sent")]

    codes = processes.stop_all()
    assert codes == {"simulate": 0, "rules": 0, "gateway": 0, "notify": 0, "api": 0}, {
        name: processes.log(name)[-2000:] for name in codes
    }


@pytest.mark.timeout(60)
def test_demo_plays_a_scenario_and_prints_json(mosquitto: Broker, tmp_path: Path) -> None:
    data = example_data(mosquitto, tmp_path / "data")
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = subprocess.run(
        [*FIREROOM, "demo", "--config", str(config), "--scenario", "sensor-wire-break",
         "--duration", "8", "--json", "--data-dir", str(tmp_path / "demo"),
         "--api-port", str(free_port()), "--mqtt-port", str(free_port())],
        capture_output=True, timeout=50, check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    incidents = json.loads(result.stdout)
    assert [(i["rule"], i["subject"]) for i in incidents] == [
        ("sensor_failed", "tower-a/ai-1/riser_top_pressure")
    ]
    for key in ("id", "rule", "subject", "severity", "state", "raised_at"):
        assert incidents[0][key]
    assert b"embedded MQTT broker listening" in result.stderr


def test_check_config_as_a_command(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: {id: x}\ndevices: [{id: d, profile: nope, transport: {type: udp}}]\n")
    result = subprocess.run([*FIREROOM, "check-config", str(bad)], capture_output=True,
                            timeout=30, check=False)
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "devices[0].transport" in err
    assert "udp" in err
