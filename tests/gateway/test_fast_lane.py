"""The fast lane: alarm points read between scans, on a real pymodbus simulator and Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from pathlib import Path
from typing import Any

import pytest

from fireroom.clock import SystemClock
from fireroom.config import Site, parse_site
from fireroom.errors import ConfigError
from gateway import Gateway
from gateway.drivers.modbus_tcp import ModbusTcpDriver, make_client
from gateway.failsafe import retry_policy
from gateway.fast_lane import FastLane, plan_fast_lane
from gateway.planner import plan_device
from gateway.poller import DevicePoller, DeviceStatus, Scan
from tests.gateway.modbus import sim_server
from tests.gateway.pmtcp import PANEL_PROFILE, ScriptedHandler, run_pmtcp
from tests.gateway.test_service import collect, is_telemetry, mqtt, running
from tests.servers import Broker, free_port
from tests.services.helpers import wait_for

FIRE = 0b11  # normal and fire bits of the system status word


def site_with_lane(tmp_path: Path, site_id: str, port: int, lane: dict[str, Any]) -> Site:
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "pm-panel.yaml").write_text(PANEL_PROFILE, encoding="utf-8")
    return parse_site({
        "site": {"id": site_id},
        "profile_dirs": [str(profiles)],
        "devices": [
            {"id": "pump-x", "profile": "pm-panel", "poll_interval": 1.0,
             "transport": {"type": "tcp", "host": "127.0.0.1", "port": free_port()}},
            {"id": "panel", "profile": "pm-panel", "poll_interval": 2.0, "timeout": 0.5,
             "max_gap": 0, "fast_lane": lane,
             "transport": {"type": "tcp", "host": "127.0.0.1", "port": port}},
        ],
    })


async def test_unknown_fast_lane_point_is_a_config_error_naming_its_path(tmp_path: Path) -> None:
    site = site_with_lane(tmp_path, "fl-config", 1, {"points": ["system_status", "P9999"]})
    with pytest.raises(ConfigError) as caught:
        plan_fast_lane(site, site.device("panel"), 1)
    problem, = caught.value.problems
    assert problem.path == "devices[1].fast_lane.points[1]"
    assert "'P9999'" in problem.message
    with pytest.raises(ConfigError, match=r"devices\[1\]\.fast_lane\.points\[1\]"):
        Gateway(site, mqtt(Broker("127.0.0.1", 1)))


async def test_fire_in_the_system_word_is_published_within_half_a_second(
    mosquitto: Broker, tmp_path: Path
) -> None:
    port = free_port()
    site = site_with_lane(tmp_path, "fl-fire", port, {"points": ["system_status"]})
    async with sim_server(port) as server, collect(mosquitto, site.id) as inbox, \
            running(Gateway(site, mqtt(mosquitto), rng=random.Random(4))):
        server.holding[0] = 1
        first = await inbox.wait_for(is_telemetry("panel"))
        assert first.json()["readings"]["system_status"] == [["normal"], "good"]
        # Just after a scan, so the next one is ~2 s away: only the fast lane can be prompt.
        await inbox.wait_for(lambda m: is_telemetry("panel")(m) and m.json().get("full") is None
                             and m.json()["seq"] > first.json()["seq"], within=5)
        server.holding[0] = FIRE
        started = time.monotonic()
        fire = await inbox.wait_for(
            lambda m: is_telemetry("panel")(m)
            and m.json()["readings"].get("system_status", [None])[0] == ["normal", "fire"])
        took = time.monotonic() - started
        # The next scan carries the fire too, never the value before it.
        await inbox.wait_for(lambda m: is_telemetry("panel")(m) and m.json().get("full") is None
                             and m.json()["seq"] > fire.json()["seq"], within=5)
    assert took < 0.6
    assert fire.json()["full"] is False
    assert fire.json()["readings"] == {"system_status": [["normal", "fire"], "good"]}
    messages = [m.json() for m in inbox.messages if is_telemetry("panel")(m)]
    seqs = [m["seq"] for m in messages]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert all(b["ts"] > a["ts"] for a, b in itertools.pairwise(messages))
    after = [m for m in messages if m["seq"] > fire.json()["seq"]]
    assert all(m["readings"]["system_status"][0] == ["normal", "fire"] for m in after)


class Sink:
    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self.statuses: list[DeviceStatus] = []

    def scan(self, scan: Scan) -> None:
        self.scans.append(scan)

    def status(self, device: str, status: DeviceStatus) -> None:
        self.statuses.append(status)


async def test_fast_lane_timeout_marks_the_device_lost(tmp_path: Path) -> None:
    handler = ScriptedHandler({0: 1, 5: 62})
    with run_pmtcp(handler) as port:
        site = site_with_lane(tmp_path, "fl-lost", port, {"points": ["system_status"]})
        device = site.device("panel")
        sink = Sink()
        poller = DevicePoller(
            device, plan_device(site, device), ModbusTcpDriver(device, client=make_client(device)),
            sink, clock=SystemClock(), policy=retry_policy(site, device),
            fast_lane=FastLane(plan_fast_lane(site, device, 1), 0.25),
        )
        task = asyncio.create_task(poller.run())
        try:
            await wait_for(lambda: sink.statuses, within=5, interval=0.01)
            handler.set(delay=1.0)  # slower than the 0.5 s timeout
            stalled = time.monotonic()
            await wait_for(lambda: sink.statuses[-1].state == "offline", within=5,
                           interval=0.01)
            took = time.monotonic() - stalled
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    # Well before the next 2 s scan: the fast lane's own timeout said so.
    assert took < 1.5
    assert sink.statuses[-1].reason == "timeout after 0.5 s"
    lost = next(scan for scan in sink.scans if not scan.ok)
    assert {r.quality.value for r in lost.readings} == {"comm_lost"}
    assert len(lost.readings) == 4
    assert poller.stats.errors["timeout"] >= 1


async def test_a_change_in_the_fast_lane_starts_a_full_scan_at_once(
    mosquitto: Broker, tmp_path: Path
) -> None:
    port = free_port()
    site = site_with_lane(tmp_path, "fl-scan-now", port, {"points": ["system_status"]})
    async with sim_server(port) as server, collect(mosquitto, site.id) as inbox, \
            running(Gateway(site, mqtt(mosquitto), rng=random.Random(5))):
        server.holding[0] = 1
        first = await inbox.wait_for(is_telemetry("panel"))
        # Just after a scan, so the next one on the 2 s grid is far away.
        await inbox.wait_for(lambda m: is_telemetry("panel")(m) and m.json().get("full") is None
                             and m.json()["seq"] > first.json()["seq"], within=5)
        server.holding[0] = FIRE
        fire = await inbox.wait_for(
            lambda m: is_telemetry("panel")(m) and m.json().get("full") is False
            and m.json()["readings"].get("system_status", [None])[0] == ["normal", "fire"])
        fire_at = time.monotonic()
        scan = await inbox.wait_for(
            lambda m: is_telemetry("panel")(m) and m.json().get("full") is None
            and m.json()["seq"] > fire.json()["seq"])
        took = time.monotonic() - fire_at
    # The point words behind the fire bit come with that scan: not 2 s later.
    assert took < 0.5
    assert set(scan.json()["readings"]) > {"system_status"}
