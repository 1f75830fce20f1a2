"""Rule settings: every rule id has a `rules:` section, devices override it key by key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fireroom.config import RulesConfig, load_site, parse_site
from fireroom.errors import ConfigError
from services.rules import RULE_IDS
from tests.services.rules_site import site_data

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_site(data)
    return [str(problem) for problem in caught.value.problems]


def test_every_rule_id_has_its_settings_and_can_be_switched_off() -> None:
    assert set(RULE_IDS) == set(RulesConfig.model_fields)
    for name, rule in RulesConfig():
        assert rule.enabled, name


def test_defaults_follow_the_domain_figures() -> None:
    rules = RulesConfig()
    assert rules.system_in_manual.after_seconds == 600
    assert rules.pump_fail_to_start.start_timeout == 30
    assert rules.pump_fail_to_start.large_start_timeout == 55
    assert rules.pump_fail_to_start.large_kw == 132
    assert rules.jockey_short_cycling.max_starts_per_hour == 15
    assert rules.jockey_short_cycling.max_run_seconds == 600
    assert rules.sensor_flatline.after_seconds == 6 * 3600
    assert rules.tank_low_temperature.threshold == 5.0
    assert rules.isolation.escalate_after_seconds == 86400


def test_device_overrides_merge_over_the_site_settings() -> None:
    data = site_data(
        {"pump-1": {"rules": {"system_in_manual": {"after_seconds": 1800}}}},
        system_in_manual={"enabled": True, "after_seconds": 300},
        isolation={"escalate_after_seconds": 7200},
    )
    site = parse_site(data)
    own = site.rules_for("pump-1")
    assert own.system_in_manual.after_seconds == 1800
    assert own.isolation.escalate_after_seconds == 7200  # the site's, not the default
    assert site.rules_for("jockey-1").system_in_manual.after_seconds == 300
    assert site.rules_for("jockey-1") is site.config.rules


def test_bad_device_overrides_name_the_path() -> None:
    data = site_data({
        "pump-1": {"rules": {"pump_fail_to_start": {"start_timeout": -1}, "no_such_rule": {}}},
        "jockey-1": {"rules": {"isolation": {"escalate_after_seconds": "a day"}}},
    })
    found = problems(data)
    assert len(found) == 3
    assert found[0].startswith("devices[1].rules.pump_fail_to_start.start_timeout: -1")
    assert found[1] == "devices[1].rules.no_such_rule: unknown field"
    assert found[2].startswith("devices[2].rules.isolation.escalate_after_seconds: 'a day'")
    assert problems(site_data({"jockey-1": {"rules": {"isolation": 5}}})) == [
        "devices[2].rules.isolation: 5: Input should be a valid dictionary"
    ]


def test_pump_settings_only_on_pump_controllers() -> None:
    found = problems(site_data({"ai-1": {"pump": {"kind": "jockey"}}}))
    assert found == ["devices[3].pump: profile 'ai-4-20ma-8ch' is not a pump controller"]
    found = problems(site_data({"jockey-1": {"pump": {"kind": "booster"}}}))
    assert found[0].startswith("devices[2].pump.kind")


def test_point_and_override_problems_are_reported_together() -> None:
    data = site_data({"jockey-1": {"rules": {"isolation": {"enabled": "maybe"}}}})
    data["devices"][3]["points"][0]["index"] = 9
    found = problems(data)
    assert [problem.split(":")[0] for problem in found] == [
        "devices[3].points[0].index",
        "devices[2].rules.isolation.enabled",
    ]


def test_the_example_marks_its_jockey_pump() -> None:
    site = load_site(EXAMPLE)
    pump = site.device("jockey-1").pump
    assert pump is not None
    assert pump.kind == "jockey"
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert set(data["rules"]) <= set(RULE_IDS)
