from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from fireroom.cli import main
from fireroom.config import load_site, parse_site
from fireroom.errors import ConfigError
from fireroom.points import Role

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"


@pytest.fixture
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_site(data)
    return [str(problem) for problem in caught.value.problems]


def test_example_site_has_what_the_brief_asks() -> None:
    site = load_site(EXAMPLE)
    panel = site.points["facp-1"]
    detectors = [p for p in panel if p.role is Role.FACP_POINT]
    assert len(detectors) >= 50
    assert {p.loop for p in detectors} == {1, 2, 3}
    assert len({p.zone for p in detectors}) >= 6
    kinds = {p.kind for p in detectors}
    assert {"smoke_detector", "heat_detector", "manual_call_point", "flow_indicator"} <= kinds
    profiles = {device.id: device.profile for device in site.config.devices}
    assert profiles["pump-1"] == profiles["jockey-1"] == "electric-pump-controller"
    transmitters = [p for p in site.points["ai-1"] if p.transmitter is not None]
    assert sorted(p.role.value for p in transmitters if p.role) == ["level", "pressure", "pressure"]


def test_template_points_get_their_address_from_the_index() -> None:
    site = load_site(EXAMPLE)
    by_name = {p.name: p for p in site.points["facp-1"]}
    assert by_name["L1-SD001"].address == 100
    assert by_name["L1-SD003"].address == 102
    assert by_name["L1-SD001"].flags is not None
    assert by_name["L1-SD001"].flags[1] == "fire"


def test_bad_word_order_names_the_path_and_the_value(example: dict[str, Any]) -> None:
    example["devices"][1]["points"] = [
        {"name": "a", "address": 40, "type": "u16"},
        {"name": "b", "address": 41, "type": "u16"},
        {"name": "c", "address": 42, "type": "u16"},
        {"name": "d", "address": 43, "type": "u16"},
        {"name": "e", "address": 44, "type": "u32", "word_order": "ABDC"},
    ]
    problems = _problems(example)
    assert len(problems) == 1
    assert problems[0].startswith("devices[1].points[4].word_order: 'ABDC' is not one of")


def test_every_problem_is_reported_at_once(example: dict[str, Any]) -> None:
    broken = copy.deepcopy(example)
    broken["devices"][0]["poll_interval"] = -1
    broken["devices"][2]["transport"]["port"] = 70000
    broken["devices"][3]["unit_id"] = "one"
    broken["site"]["timezone"] = "Mars/Olympus"
    problems = _problems(broken)
    paths = sorted(problem.split(":")[0] for problem in problems)
    assert paths == [
        "devices[0].poll_interval",
        "devices[2].transport.port",
        "devices[3].unit_id",
        "site.timezone",
    ]


def test_cross_field_checks_name_the_point(example: dict[str, Any]) -> None:
    example["devices"][1]["points"] = [
        {"name": "x", "address": 50, "type": "bit"},
        {"name": "y", "table": "coil", "address": 9, "type": "u16"},
        {"name": "z", "address": 51, "type": "i16", "flags": {0: "a"}},
    ]
    problems = _problems(example)
    assert any(p.startswith("devices[1].points[0]") and "needs 'bit'" in p for p in problems)
    assert any(p.startswith("devices[1].points[1]") and "holds bits" in p for p in problems)
    assert any(p.startswith("devices[1].points[2]") and "u16 or u32" in p for p in problems)


def test_unknown_profile_duplicate_ids_and_unknown_fields(example: dict[str, Any]) -> None:
    example["devices"][1]["profile"] = "no-such-profile"
    example["devices"][0]["colour"] = "red"
    problems = _problems(example)
    assert "devices[0].colour: unknown field" in problems
    example["devices"][0].pop("colour")
    problems = _problems(example)
    assert problems[0].startswith("devices[1].profile: 'no-such-profile' is not one of")
    example["devices"][1]["profile"] = "electric-pump-controller"
    example["devices"][1]["id"] = "facp-1"
    problems = _problems(example)
    assert "device ids must be unique" in problems[0]


def test_point_index_beyond_template_and_duplicate_names(example: dict[str, Any]) -> None:
    example["devices"][3]["points"].append({"name": "ch9", "index": 8})
    example["devices"][3]["points"].append({"name": "tank_level", "index": 3})
    problems = _problems(example)
    assert any(p.startswith("devices[3].points[3].index: 8 > 7") for p in problems)
    assert any("'tank_level' is defined twice" in p for p in problems)


def test_check_config_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "4 devices" in out
    assert "124 points in all" in out
    assert "config OK" in out


def test_check_config_exits_2_with_every_error(
    tmp_path: Path, example: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    example["devices"][0]["timeout"] = 0
    example["devices"][3]["points"][0]["transmitter"] = {"low": 1, "high": 1, "unit": "MPa"}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(example), encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "devices[0].timeout: 0" in err
    assert "devices[3].points[0].transmitter" in err
    assert "2 problem(s)" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("devices: [", "not valid YAML"),
        ("- a\n- b\n", "must hold a mapping"),
        ("site: {id: Tower A}\ndevices: []\n", "site.id: 'Tower A'"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_site(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_site(tmp_path / "absent.yaml")


def test_mqtt_environment_overrides() -> None:
    site = load_site(EXAMPLE)
    mqtt = site.config.mqtt.with_environment({"FIREROOM_MQTT_URL": "mqtt://u:p@10.0.0.5:1884"})
    assert (mqtt.host, mqtt.port, mqtt.username, mqtt.password) == ("10.0.0.5", 1884, "u", "p")
    with pytest.raises(ConfigError, match="not mqtt://host:port"):
        site.config.mqtt.with_environment({"FIREROOM_MQTT_URL": "http://x"})
    with pytest.raises(ConfigError, match="not a port number"):
        site.config.mqtt.with_environment({"FIREROOM_MQTT_PORT": "abc"})


def test_compose_site_config_is_valid_and_compose_file_is_consistent() -> None:
    root = EXAMPLE.parents[1]
    site = load_site(root / "deploy" / "site.compose.yaml")
    assert site.config.mqtt.host == "mosquitto"
    assert {d.transport.host for d in site.config.devices} == {"simulators"}
    compose = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"mosquitto", "simulators", "gateway", "rules", "api"} <= set(services)
    for name in ("simulators", "gateway", "rules", "api"):
        command = services[name]["command"]
        config = command[command.index("--config") + 1]
        assert (root / config.removeprefix("/app/")).exists()
    for volume in services["mosquitto"]["volumes"]:
        assert (root / volume.split(":")[0]).exists()
