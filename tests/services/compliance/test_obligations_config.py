"""The `obligations:` section: presets, roles, overrides, custom obligations, and the errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from fireroom.config import load_site, parse_site
from fireroom.errors import ConfigError
from fireroom.obligation_binding import bind_site
from fireroom.obligation_presets import PRESET_DATA
from fireroom.obligations import DAY, PresetName, RunClass, preset
from tests.services.compliance.sites import site_data

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "site.yaml"
ROLES = {"diesel_pump": ["pump-2"], "jockey_pump": ["jockey-1"]}


def problems(**obligations: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_site(site_data(**obligations))
    return [str(problem) for problem in caught.value.problems]


def bound(**obligations: Any) -> dict[str, list[str | None]]:
    site = parse_site(site_data(**obligations))
    return {o.id: [t.device for t in o.targets] for o in bind_site(site)}


def test_every_preset_is_valid_and_named() -> None:
    assert set(get_args(PresetName)) == set(PRESET_DATA)
    for name in get_args(PresetName):
        ids = [spec.id for spec in preset(name)]
        assert len(ids) == len(set(ids)), name


def test_presets_bind_by_role() -> None:
    targets = bound(presets=["gb50974", "nfpa25"], roles=ROLES)
    assert targets["pump-test-run"] == ["pump-1", "pump-2"]
    assert targets["electric-pump-churn-test"] == ["pump-1"]
    assert targets["diesel-pump-weekly-run"] == ["pump-2"]
    assert targets["jockey-pump-daily"] == ["jockey-1"]
    assert targets["water-tank-level"] == ["ai-1"]
    assert targets["pressure-tank"] == [None]


def test_without_roles_every_pump_controller_is_a_fire_pump() -> None:
    targets = bound(presets=["gb50974", "nfpa25"])
    assert targets["pump-test-run"] == ["pump-1", "pump-2", "jockey-1"]
    # No jockey and no diesel pump: those preset obligations are left out.
    assert "jockey-pump-daily" not in targets
    assert "diesel-pump-weekly-run" not in targets


def test_a_device_marked_as_jockey_pump_is_one() -> None:
    data = site_data(presets=["gb50974"])
    data["devices"][3]["pump"] = {"kind": "jockey"}
    targets = {o.id: [t.device for t in o.targets] for o in bind_site(parse_site(data))}
    assert targets["jockey-pump-daily"] == ["jockey-1"]
    assert targets["pump-test-run"] == ["pump-1", "pump-2"]


def test_rotation_binds_points_by_kind() -> None:
    site = parse_site(site_data(presets=["cn-fire-control-room"]))
    rotation = next(o for o in bind_site(site) if o.id == "detector-rotation")
    [target] = rotation.targets
    assert target.device == "facp-1"
    assert target.points == (
        "L1-SD001",
        "L1-SD002",
        "L1-SD003",
        "L1-SD004",
        "L1-HD001",
        "L1-HD002",
    )


def test_overrides_merge_criteria_and_can_disable() -> None:
    site = parse_site(
        site_data(
            presets=["gb50974"],
            roles=ROLES,
            override={
                "pump-test-run": {
                    "grace": "36h",
                    "escalate_after": "period",
                    "criteria": {"churn_pressure": 0.9, "runs": ["manual", "auto_test"]},
                },
                "pressure-tank": {"enabled": False},
                "pump-auto-inspection": {"evidence": "manual", "applies_to": {"site": True}},
            },
        )
    )
    obligations = {o.id: o for o in bind_site(site)}
    spec = obligations["pump-test-run"].spec
    assert spec.grace == 1.5 * DAY
    assert spec.escalate_after == "period"
    assert spec.criteria.churn_pressure == 0.9
    assert spec.criteria.runs == [RunClass.MANUAL, RunClass.AUTO_TEST]
    assert spec.criteria.pressure_tolerance == 0.05  # the preset's, kept
    assert spec.title == "Fire, sprinkler and drencher pump test run"
    assert "pressure-tank" not in obligations
    assert obligations["pump-auto-inspection"].targets[0].device is None


def test_custom_obligations() -> None:
    targets = bound(
        custom=[
            {"id": "generator-run", "title": "Generator", "period": "monthly"},
            {
                "id": "pump-drain",
                "title": "Drain",
                "period": "quarterly",
                "applies_to": {"profile_kind": "pump_controller", "exclude": ["jockey-1"]},
            },
        ]
    )
    assert targets == {"generator-run": [None], "pump-drain": ["pump-1", "pump-2"]}


def test_errors_name_their_path() -> None:
    assert problems(
        presets=["gb50974"],
        roles={"jockey_pump": ["jockey-9"]},
        override={
            "missing": {},
            "pressure-tank": {"evidence": "pump_run"},
            "pump-test-run": {"applies_to": {"devices": ["pump-7"]}},
        },
        custom=[
            {"id": "pressure-tank", "title": "t", "period": "weekly"},
            {
                "id": "x",
                "title": "t",
                "period": "weekly",
                "evidence": "pump_run",
                "applies_to": {"devices": ["ai-1"]},
            },
            {
                "id": "y",
                "title": "t",
                "period": "yearly",
                "evidence": "detector_test",
                "applies_to": {"devices": ["pump-1"], "point_kinds": ["smoke_detector"]},
            },
        ],
    ) == [
        "obligations.roles.jockey_pump[0]: 'jockey-9' is not a device of this site",
        "obligations.custom[0].id: 'pressure-tank' is already defined (preset gb50974):"
        " change it under obligations.override",
        "obligations.override.missing: no obligation 'missing'; known: jockey-pump-daily,"
        " municipal-water-pressure, pressure-tank, pump-auto-inspection,"
        " pump-flow-pressure-test, pump-test-run, water-tank-level, x, y",
        "obligations.override.pressure-tank: evidence 'pump_run' applies to pump controllers:"
        " give roles, profile_kind or devices, without point filters",
        "obligations.override.pump-test-run.applies_to.devices[0]: 'pump-7' is not a device"
        " of this site",
        "obligations.custom[1].applies_to: x: device 'ai-1' has no pump_running point",
        "obligations.custom[2].applies_to: y: matches nothing on this site",
    ]


@pytest.mark.parametrize(
    ("obligations", "path", "message"),
    [
        (
            {"override": {"pump-test-run": {"grace": "3 weeks"}}, "presets": ["gb50974"]},
            "obligations.override.pump-test-run.grace",
            "not a duration like 90s, 30m, 12h, 7d or 2w",
        ),
        (
            {"presets": ["gb9999"]},
            "obligations.presets[0]",
            "Input should be 'cn-fire-control-room', 'gb50974', 'gb25201' or 'nfpa25'",
        ),
        (
            {
                "custom": [
                    {
                        "id": "a",
                        "title": "a",
                        "period": "weekly",
                        "applies_to": {"site": True, "roles": ["facp"]},
                    }
                ]
            },
            "obligations.custom[0].applies_to",
            "'site: true' stands alone",
        ),
        (
            {"custom": [{"id": "a", "title": "a", "period": "fortnightly"}]},
            "obligations.custom[0].period",
            "'fortnightly' is not one of 'daily', 'weekly', 'monthly', 'quarterly',"
            " 'half-yearly' or 'yearly'",
        ),
        (
            {"custom": [{"id": "a", "title": "a", "period": "weekly", "criteria": {}}]},
            "obligations.custom[0]",
            "criteria apply to evidence 'pump_run', not 'manual'",
        ),
        (
            {"custom": [{"id": "A b", "title": "a", "period": "weekly"}]},
            "obligations.custom[0].id",
            "String should match pattern",
        ),
    ],
)
def test_field_errors_name_their_path(obligations: dict[str, Any], path: str, message: str) -> None:
    [problem] = problems(**obligations)
    assert problem.startswith(f"{path}: ")
    assert message in problem


def test_the_example_site_binds_its_obligations() -> None:
    site = load_site(EXAMPLE)
    targets = {o.id: [t.device for t in o.targets] for o in bind_site(site)}
    assert targets["pump-test-run"] == ["pump-1"]
    assert targets["jockey-pump-daily"] == ["jockey-1"]
    assert targets["detector-rotation"] == ["facp-1"]


def test_the_readme_example_is_valid() -> None:
    readme = (EXAMPLE.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Periodic tests", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    data = site_data(**yaml.safe_load(block)["obligations"])
    data["devices"][3]["pump"] = {"kind": "jockey"}  # as the comment in the example says
    site = parse_site(data)
    obligations = {o.id: o for o in bind_site(site)}
    assert "pressure-tank" not in obligations
    assert obligations["pump-test-run"].spec.grace == 3 * DAY
    assert [t.device for t in obligations["pump-test-run"].targets] == ["pump-1", "pump-2"]
    assert obligations["generator-run"].spec.figures == ["hours"]
