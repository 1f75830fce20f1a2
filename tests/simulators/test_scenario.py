from __future__ import annotations

from pathlib import Path

import pytest

from fireroom.config import Site
from simulators.errors import ScenarioError
from simulators.scenario import (
    SCENARIO_DIR,
    AppliedStep,
    load_scenario,
    parse_scenario,
    scenario_names,
)

SHIPPED = ["device-silent", "fire-alarm", "normal", "pump-fail-to-start", "sensor-wire-break"]


def test_the_briefed_scenarios_ship() -> None:
    assert set(SHIPPED) <= set(scenario_names())


@pytest.mark.parametrize("name", scenario_names())
def test_every_shipped_scenario_loads_and_fits_the_example_site(
    name: str, example_site: Site
) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    scenario.check(example_site)
    for item in scenario.expect:
        assert item.subject.startswith(f"{example_site.id}/")
    assert load_scenario(SCENARIO_DIR / f"{name}.yaml") == scenario


def test_expectations_of_the_fire_alarm_scenario() -> None:
    scenario = load_scenario("fire-alarm")
    assert [(e.rule, e.subject, e.state_at_end) for e in scenario.expect] == [
        ("fire_alarm", "tower-a/facp-1/L1-SD003", "active")
    ]
    assert load_scenario("normal").expect == []


def test_deadline_counts_from_the_applied_step_or_the_start() -> None:
    scenario = load_scenario("device-silent")
    expectation = scenario.expect[0]
    applied = [AppliedStep(index=0, step=scenario.steps[0], at=3.0, wall=1003.0)]
    assert expectation.deadline(1000.0, applied) == 1007.0
    anchored = expectation.model_copy(update={"after_step": None, "after": 2.0})
    assert anchored.deadline(1000.0, applied) == 1006.0


def test_malformed_scenario_names_the_file_and_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "name: broken\nduration: 5\nsteps:\n"
        "  - {at: 1, device: pump-1, action: set}\n"
        "  - {at: 2, device: pump-1, action: explode}\n"
        "expect:\n  - {rule: Flood!, subject: tower-a/pump-1, within: 3, after_step: 0}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert str(path) in text
    paths = [problem.path for problem in caught.value.problems]
    assert "steps[0]" in paths
    assert "steps[1].action" in paths
    assert "expect[0].rule" in paths
    assert "needs 'point'" in text
    assert "Flood!" in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "duration": 5, "steps": [{"at": 9, "action": "leak", "value": 0.1}]},
         "after duration"),
        ({"name": "x", "duration": 5, "expect": [
            {"rule": "comm_loss", "subject": "s/d", "within": 1, "after_step": 0}]},
         "not a step"),
        ({"name": "x", "duration": 5, "expect": [
            {"rule": "comm_loss", "subject": "s/d", "within": 1}]},
         "exactly one"),
        ({"name": "x", "duration": 5, "steps": [
            {"at": 1, "device": "facp-1", "action": "point_state", "point": "a", "value": "hot"}]},
         "not a point state"),
        ({"name": "x", "duration": 5, "steps": [
            {"at": 1, "device": "ai-1", "action": "set_milliamps", "point": "a", "value": "x"}]},
         "needs a number"),
        ({"name": "x", "duration": 5, "steps": [{"at": 1, "device": "a", "action": "exception"}]},
         "needs 'code'"),
    ],
)
def test_invalid_scenarios_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data, source="inline")


def test_scenario_naming_what_the_site_lacks_is_refused(example_site: Site) -> None:
    scenario = parse_scenario({"name": "x", "duration": 5, "steps": [
        {"at": 1, "device": "pump-9", "action": "silent"},
        {"at": 1, "device": "ai-1", "action": "set_milliamps", "point": "nope", "value": 2.0},
    ]})
    with pytest.raises(ScenarioError) as caught:
        scenario.check(example_site)
    assert [p.path for p in caught.value.problems] == ["steps[0].device", "steps[1].point"]


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="fire-alarm"):
        load_scenario("no-such-scenario")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario("/nonexistent/dir/x.yaml")
