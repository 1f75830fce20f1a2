"""Scenarios on a simulated clock: months of a site in seconds through the gateway's decoding,
the rules and compliance engines and real SQLite stores. Each scenario's `expect:` list is the
exact set of incidents it must leave behind, raised inside its window, and `expect_records:`
the test evidence it must leave."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from fireroom.cli import EXAMPLE_SITE
from fireroom.clock import SimulatedClock
from fireroom.config import load_site
from fireroom.domain import IncidentState
from fireroom.runners import simulated_engines
from fireroom.simrun import SimulatedRun
from services.incidents.store import IncidentStore
from simulators import load_scenario, scenario_names

SIMULATED = [name for name in scenario_names() if load_scenario(name).simulated]
ACTIVE = {IncidentState.ACTIVE_UNACKED, IncidentState.ACTIVE_ACKED}


def test_the_compliance_scenarios_ship() -> None:
    assert {
        "pump-test-passed", "pump-test-failed", "monthly-pump-test-missed", "detector-rotation",
        "jockey-short-cycling", "pump-in-manual", "pressure-decay",
    } <= set(SIMULATED)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", SIMULATED)
def test_simulated_scenario_raises_exactly_what_it_expects(name: str, tmp_path: Path) -> None:
    site = load_site(EXAMPLE_SITE)
    scenario = load_scenario(name)
    assert scenario.start is not None
    clock = SimulatedClock(scenario.start.timestamp())
    store = IncidentStore(tmp_path / "incidents.sqlite3", clock)
    engines, records = simulated_engines(site, scenario, clock, tmp_path / "records.sqlite3")
    run = SimulatedRun(site, scenario, store, clock, engines, coarse=scenario.coarse_step)
    run.run()
    assert clock.now() == pytest.approx(scenario.start.timestamp() + scenario.duration)

    found = {(i.rule, i.subject): i for i in store.list(limit=1000)}
    expected = {(item.rule, item.subject): item for item in scenario.expect}
    assert set(found) == set(expected), f"{name}: raised {sorted(found)}"
    for key, item in expected.items():
        incident = found[key]
        deadline = item.deadline(run.started_at, run.applied)
        late = incident.raised_at - deadline
        assert late <= 0, f"{key} raised {late:.0f} s late"
        earliest = item.earliest(run.started_at, run.applied)
        if earliest is not None:
            early = earliest - incident.raised_at
            assert early <= 0, f"{key} raised {early:.0f} s early"
        assert (incident.state in ACTIVE) == (item.state_at_end == "active"), incident.state
        if item.severity_at_end is not None:
            assert incident.severity.value == item.severity_at_end

    kept = Counter((r.obligation, r.subject, r.result.value) for r in records.list(limit=10000))
    for wanted in scenario.expect_records:
        assert kept[wanted.obligation, wanted.subject, wanted.result] == wanted.count, kept
    store.close()
    records.close()


@pytest.mark.timeout(400)
def test_demo_runs_a_month_in_seconds_and_prints_json(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fireroom.cli", "demo", "--scenario", "monthly-pump-test-missed",
         "--duration", "300", "--json", "--data-dir", str(tmp_path)],
        capture_output=True, timeout=330, check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    incidents = json.loads(result.stdout)
    assert [(i["rule"], i["subject"], i["severity"]) for i in incidents] == [
        ("missed_test", "tower-a/pump-1:pump-test-run", "minor")
    ]
    assert incidents[0]["raised_at"].startswith("2026-05-07T16:")  # 8 May 00:00 in Shanghai
    assert b"simulated 40.0 days" in result.stderr
