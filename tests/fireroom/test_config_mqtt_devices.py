"""Site config of MQTT-native devices: topic filters, JSON paths, profile points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fireroom.cli import main
from fireroom.config import MqttTransport, load_site, parse_site
from fireroom.errors import ConfigError
from fireroom.points import Role

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mqtt-devices.yaml"


def _site(*devices: dict[str, Any]) -> dict[str, Any]:
    return {"site": {"id": "mqtt-config"}, "devices": list(devices)}


def _panel(points: list[dict[str, Any]], topic: str = "vendor/panel/+/state") -> dict[str, Any]:
    return {"id": "panel-1", "profile": "gbt26875-panel",
            "transport": {"type": "mqtt", "topic": topic}, "points": points}


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_site(data)
    return [str(problem) for problem in caught.value.problems]


def test_profile_points_lend_their_meaning_to_json_paths() -> None:
    site = parse_site(_site(_panel([
        {"name": "system_status", "path": "status.system"},
        {"name": "L1-SD001", "index": 0, "path": "points[0].status", "zone": 1},
        {"name": "pressure", "path": "$.p", "scale": 0.01, "unit": "MPa", "role": "pressure"},
    ])))
    points = {point.name: point for point in site.points["panel-1"]}
    assert list(points) == ["system_status", "L1-SD001", "pressure"]  # only what is mapped
    assert points["system_status"].role is Role.FACP_SYSTEM
    assert points["system_status"].flags is not None
    assert points["system_status"].flags[1] == "fire"
    assert points["L1-SD001"].role is Role.FACP_POINT
    assert points["L1-SD001"].path == "points[0].status"
    assert (points["pressure"].scale, points["pressure"].unit) == (0.01, "MPa")
    transport = site.device("panel-1").transport
    assert isinstance(transport, MqttTransport)
    assert transport.describe() == "mqtt vendor/panel/+/state"


def test_a_point_without_a_path_is_named() -> None:
    problems = _problems(_site(_panel([
        {"name": "system_status", "path": "status.system"},
        {"name": "fire_count"},
    ])))
    assert problems == ["devices[0].points[1]: a point of an MQTT device needs 'path'"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("status..system", "expected a key at 7, found '.'"),
        ("points[x].status", "expected an index like [0] at 6, found '['"),
        ("points[-1]", "expected an index like [0] at 6"),
        ("$", "expected a key at 0, found '$'"),
        ("status.system[0", "expected an index like [0] at 13"),
    ],
)
def test_a_bad_path_is_named_with_what_is_wrong(path: str, reason: str) -> None:
    problems = _problems(_site(_panel([
        {"name": "system_status", "path": "status.system"},
        {"name": "fire_count", "path": path},
    ])))
    assert len(problems) == 1
    assert problems[0].startswith(f"devices[0].points[1].path: {path!r} is not a JSON path")
    assert reason in problems[0]


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("vendor/#/state", "'#' must be a whole last level"),
        ("vendor/panel#", "'#' must be a whole last level"),
        ("vendor/pan+el/state", "'+' must be a whole level"),
        ("", "is not an MQTT topic filter"),
    ],
)
def test_a_bad_topic_filter_is_named(topic: str, reason: str) -> None:
    problems = _problems(_site(_panel([{"name": "system_status", "path": "s"}], topic=topic)))
    assert len(problems) == 1
    assert problems[0].startswith(f"devices[0].transport.topic: {topic!r}: ")
    assert reason in problems[0]
    assert "Value error" not in problems[0]


def test_every_bad_point_is_reported_at_once() -> None:
    problems = _problems(_site(
        _panel([{"name": "system_status", "path": "a..b"}, {"name": "fire_count"},
                {"name": "fault_count", "path": "counts.fault"}]),
        {"id": "hub", "profile": "ai-4-20ma-8ch",
         "transport": {"type": "mqtt", "topic": "sensors/hub"},
         "points": [{"name": "level", "path": "ch[0", "unit": "m"},
                    {"name": "module_status", "path": "diag"}]},
    ))
    assert [problem.split(":")[0] for problem in problems] == [
        "devices[0].points[0].path", "devices[0].points[1]", "devices[1].points[0].path"]


def test_mqtt_device_needs_points_and_modbus_points_no_paths() -> None:
    problems = _problems(_site(_panel([])))
    assert problems == ["devices[0].points: an MQTT device maps no points"]
    # Points given but each refused are reported as they are, not as none given.
    problems = _problems(_site(_panel([{"name": "system_status"},
                                       {"name": "fire_count", "path": "a..b"}])))
    assert [problem.split(":")[0] for problem in problems] == [
        "devices[0].points[0]", "devices[0].points[1].path"]
    assert not any("maps no points" in problem for problem in problems)
    problems = _problems(_site({
        "id": "panel-2", "profile": "gbt26875-panel",
        "transport": {"type": "tcp", "host": "127.0.0.1", "port": 1502},
        "points": [{"name": "L1-SD001", "index": 0, "path": "a"}],
    }))
    assert problems == ["devices[0].points[0].path: only MQTT devices have JSON paths"]


def test_broker_override_is_validated_like_the_site_broker() -> None:
    device = _panel([{"name": "system_status", "path": "s"}])
    device["transport"]["broker"] = {"host": "10.0.5.2", "port": 70000}
    assert _problems(_site(device)) == [
        "devices[0].transport.broker.port: 70000: Input should be less than or equal to 65535"
    ]


def test_example_site_with_mqtt_devices_loads() -> None:
    site = load_site(EXAMPLE)
    transports = [device.transport for device in site.config.devices]
    assert all(isinstance(transport, MqttTransport) for transport in transports)
    panel = {point.name: point for point in site.points["facp-2"]}
    assert panel["system_status"].role is Role.FACP_SYSTEM
    assert panel["B-SD001"].role is Role.FACP_POINT
    hub = {point.name: point for point in site.points["hub-1"]}
    assert hub["roof_pressure"].scale == 1.0
    assert hub["roof_pressure"].transmitter is not None
    assert all(point.path for points in site.points.values() for point in points)


def test_check_config_passes_on_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "mqtt vendor/tower-b/facp-2/+/state" in out
    assert "config OK" in out
