"""Every shipped scenario, end to end on real parts: pymodbus simulators, the gateway, a real
Mosquitto, the rules service and a SQLite incident store. Each scenario's `expect:` list is the
exact set of incidents it must leave behind, each raised by its deadline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fireroom.domain import IncidentState
from gateway import Gateway
from services.incidents.store import IncidentStore
from services.rules.service import RulesService
from simulators import SiteSimulator, load_scenario, scenario_names
from tests.integration.sites import example_site
from tests.servers import Broker

pytestmark = pytest.mark.integration

ACTIVE = {IncidentState.ACTIVE_UNACKED, IncidentState.ACTIVE_ACKED}
CLEARED = {IncidentState.CLEARED_UNACKED, IncidentState.CLOSED}


REAL_TIME = [name for name in scenario_names() if not load_scenario(name).simulated]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", REAL_TIME)
async def test_scenario_raises_exactly_what_it_expects(
    name: str, mosquitto: Broker, tmp_path: Path
) -> None:
    site, _ = example_site(mosquitto, tmp_path)
    scenario = load_scenario(name)
    store = IncidentStore(tmp_path / "incidents.sqlite3")
    rules = RulesService(site, site.config.mqtt, store)
    gateway = Gateway(site, site.config.mqtt)
    async with SiteSimulator(site, scenario) as sim, asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(rules.run(), name="rules"),
            group.create_task(gateway.run(), name="gateway"),
        ]
        await sim.wait_scenario_done()
        # Let the last poll and tick land before judging.
        await asyncio.sleep(1.5)
        for task in tasks:
            task.cancel()
    incidents = store.list(limit=1000)
    found = {(incident.rule, incident.subject): incident for incident in incidents}
    expected = {(item.rule, item.subject): item for item in scenario.expect}
    assert set(found) == set(expected), f"{name}: raised {sorted(found)}"
    for key, item in expected.items():
        incident = found[key]
        deadline = item.deadline(sim.started_at, sim.applied)
        assert incident.raised_at <= deadline, (
            f"{name}: {key} raised {incident.raised_at - deadline:.2f} s after its deadline"
        )
        wanted = ACTIVE if item.state_at_end == "active" else CLEARED
        assert incident.state in wanted, f"{name}: {key} ended {incident.state}"
    assert rules.stats().get("rejected", 0) == 0
    store.close()


@pytest.mark.timeout(60)
async def test_fire_alarm_within_two_poll_intervals_of_the_register_change(
    mosquitto: Broker, tmp_path: Path
) -> None:
    """GB 25506 allows 10 s from panel to monitoring centre; we hold ourselves to 2 polls."""
    site, _ = example_site(mosquitto, tmp_path)
    store = IncidentStore(tmp_path / "incidents.sqlite3")
    rules = RulesService(site, site.config.mqtt, store)
    gateway = Gateway(site, site.config.mqtt)
    poll = site.device("facp-1").poll_interval
    latencies = []
    async with SiteSimulator(site) as sim, asyncio.TaskGroup() as group:
        tasks = [group.create_task(rules.run()), group.create_task(gateway.run())]
        await asyncio.sleep(2.0)
        panel = sim.model.panel("facp-1")
        for point in ("L2-SD005", "L3-MCP002", "L1-HD001"):
            changed = sim.clock.now()
            panel.set_point_state(point, "fire")
            subject = f"{site.id}/facp-1/{point}"
            incident = None
            async with asyncio.timeout(10):
                while incident is None:
                    await asyncio.sleep(0.05)
                    found = store.list(rule="fire_alarm")
                    incident = next((i for i in found if i.subject == subject), None)
            latencies.append(incident.raised_at - changed)
        for task in tasks:
            task.cancel()
    assert all(latency <= 2 * poll for latency in latencies), latencies
    # The system word's summary fire bit must not add incidents of its own.
    assert {i.subject.rsplit("/", 1)[1] for i in store.list(rule="fire_alarm")} == {
        "L2-SD005", "L3-MCP002", "L1-HD001"}
    store.close()


async def test_lost_panel_keeps_its_fire_incident_active(
    mosquitto: Broker, tmp_path: Path
) -> None:
    """A panel that goes silent during a fire shows as lost; its fire is never cleared."""
    site, _ = example_site(mosquitto, tmp_path)
    store = IncidentStore(tmp_path / "incidents.sqlite3")
    rules = RulesService(site, site.config.mqtt, store)
    gateway = Gateway(site, site.config.mqtt)
    async with SiteSimulator(site) as sim, asyncio.TaskGroup() as group:
        tasks = [group.create_task(rules.run()), group.create_task(gateway.run())]
        await asyncio.sleep(1.5)
        sim.model.panel("facp-1").set_point_state("L1-SD001", "fire")
        await _wait_for(store, "fire_alarm")
        sim.server("facp-1").silence()
        await _wait_for(store, "comm_loss")
        await asyncio.sleep(1.0)
        for task in tasks:
            task.cancel()
    fire = store.list(rule="fire_alarm")
    assert len(fire) == 1
    assert fire[0].state is IncidentState.ACTIVE_UNACKED
    comm = store.list(rule="comm_loss")
    assert [i.subject for i in comm] == [f"{site.id}/facp-1"]
    store.close()


async def _wait_for(store: IncidentStore, rule: str, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not store.list(rule=rule):
            await asyncio.sleep(0.05)


