"""Play shipped scenarios through the real pipeline and store what it produced in InfluxDB.

Each scenario runs as its own site (the site id is the scenario's name) on the example site's
devices, moved to free loopback ports: real pymodbus simulators, the real gateway, a real
Mosquitto and the real rules service with its SQLite store. All sites play at once into one
database, so the dashboards' site variable has several sites to tell apart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import yaml

from fireroom.config import Site, load_site
from gateway import Gateway
from services.incidents.models import Incident
from services.incidents.store import IncidentStore
from services.rules.service import RulesService
from simulators import SiteSimulator, load_scenario
from tests.dashboards.influx import Influx, ScanRecorder, incident_lines
from tests.integration.sites import example_data
from tests.servers import Broker

__all__ = ["Played", "play"]

# Time for the last poll, tick and incident transition to land once a scenario's clock is done.
_SETTLE = 1.5


@dataclass(frozen=True)
class Played:
    """What one scenario left behind: its site and every incident its rules service kept."""

    scenario: str
    site: Site
    incidents: list[Incident]
    readings: int  # reading lines written
    events: int  # incident event lines written
    events_of: dict[int, list[str]]  # each incident's event kinds, oldest first
    raised_as: dict[int, str]  # each incident's severity when it was raised


def _site(scenario: str, broker: Broker, directory: Path) -> Site:
    data = example_data(broker, directory / "data")
    data["site"]["id"] = scenario
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_site(path)


async def _play_one(
    scenario: str, broker: Broker, directory: Path, influx: Influx
) -> Played:
    site = _site(scenario, broker, directory)
    store = IncidentStore(directory / "incidents.sqlite3")
    rules = RulesService(site, site.config.mqtt, store)
    gateway = Gateway(site, site.config.mqtt)
    recorders = []
    for poller in gateway.pollers.values():
        recorder = ScanRecorder(site, poller.sink)
        poller.sink = recorder
        recorders.append(recorder)
    async with SiteSimulator(site, load_scenario(scenario)) as sim, asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(rules.run(), name=f"rules[{scenario}]"),
            group.create_task(gateway.run(), name=f"gateway[{scenario}]"),
        ]
        await sim.wait_scenario_done()
        await asyncio.sleep(_SETTLE)
        for task in tasks:
            task.cancel()
    readings = [line for recorder in recorders for line in recorder.lines]
    events = incident_lines(store, site.id)
    await asyncio.to_thread(influx.write, readings + events)
    incidents = store.list(site=site.id, limit=10_000)
    history = {incident.id: store.events(incident.id) for incident in incidents}
    store.close()
    return Played(
        scenario, site, incidents, len(readings), len(events),
        events_of={key: [event.kind.value for event in kept] for key, kept in history.items()},
        raised_as={key: str(kept[0].data.get("severity")) for key, kept in history.items()},
    )


async def play(
    scenarios: list[str], broker: Broker, directory: Path, influx: Influx
) -> dict[str, Played]:
    """Play every scenario at once; return what each left behind, by scenario name."""
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(_play_one(name, broker, directory / name, influx), name=name)
            for name in scenarios
        ]
    return {task.get_name(): task.result() for task in tasks}
