from __future__ import annotations

import asyncio
import logging

import pytest

from fireroom.config import Site
from simulators import FastClock, SiteSimulator, load_scenario

pytestmark = pytest.mark.timeout(30)

SPEED = 20.0


async def _play(site: Site, name: str) -> SiteSimulator:
    scenario = load_scenario(name)
    async with SiteSimulator(site, scenario, clock=FastClock(SPEED)) as sim:
        async with asyncio.timeout(scenario.duration / SPEED + 5):
            await sim.wait_scenario_done()
    assert [applied.index for applied in sim.applied] == list(range(len(scenario.steps)))
    for applied in sim.applied:
        assert applied.at >= applied.step.at
    return sim


async def test_fire_alarm_scenario_puts_the_detector_and_panel_in_fire(
    loopback_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fireroom.simulators")
    sim = await _play(loopback_site, "fire-alarm")
    panel = sim.device("facp-1")
    assert panel.get("L1-SD003") == ["fire"]
    assert panel.get("system_status") == ["fire"]
    assert panel.get("fire_count") == 1
    messages = [record.getMessage() for record in caplog.records]
    assert any("listening on 127.0.0.1" in message for message in messages)
    assert any("scenario step 0" in message and "L1-SD003" in message for message in messages)


async def test_pump_fail_to_start_scenario_ends_in_low_pressure_and_alarm(
    loopback_site: Site,
) -> None:
    sim = await _play(loopback_site, "pump-fail-to-start")
    pump = sim.device("pump-1")
    assert pump.get("demand") is True
    assert pump.get("running") is False
    assert pump.get("alarms") == ["fail_to_start"]
    ai = sim.device("ai-1")
    assert ai.get_engineering("main_pressure") < 0.30
    assert ai.get_engineering("riser_top_pressure") < 0.10


async def test_wire_break_and_silent_scenarios(loopback_site: Site) -> None:
    sim = await _play(loopback_site, "sensor-wire-break")
    assert sim.device("ai-1").get("riser_top_pressure") == pytest.approx(2.0)
    sim = await _play(loopback_site, "device-silent")
    assert sim.server("pump-1").silent


async def test_normal_scenario_keeps_everything_normal(loopback_site: Site) -> None:
    sim = await _play(loopback_site, "normal")
    assert sim.applied == []
    assert sim.device("facp-1").get("system_status") == ["normal"]
    assert sim.device("pump-1").get("alarms") == []
    assert sim.device("ai-1").get_engineering("main_pressure") > 0.5


async def test_without_scenario_wait_returns_at_once(example_site: Site) -> None:
    async with SiteSimulator(example_site, serve=False) as sim:
        async with asyncio.timeout(1):
            await sim.wait_scenario_done()
        before = sim.model.elapsed
        await asyncio.sleep(0.35)
        assert sim.model.elapsed > before
