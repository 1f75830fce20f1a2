"""GB 25506 timing: sites that cannot meet it are refused unless they say so and who approved."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fireroom.cli import EXIT_CONFIG, main
from fireroom.config import load_site, parse_site
from fireroom.conformance import HINT, check, enforce, load_conforming_site
from fireroom.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
TCP = {"type": "tcp", "host": "127.0.0.1", "port": 1502}
APPROVED = {"reason": "panel gateway polls slowly until it is replaced", "approved_by": "Li Wei"}


def site_data(**panel: Any) -> dict[str, Any]:
    """A panel, a fire pump controller and an analog module, all conforming as given."""
    return {
        "site": {"id": "conf-site"},
        "devices": [
            {
                "id": "panel-1",
                "profile": "gbt26875-panel",
                "transport": TCP,
                "points": [{"name": "SD1", "index": 0, "kind": "smoke_detector"}],
                **panel,
            },
            {"id": "pump-1", "profile": "electric-pump-controller", "transport": TCP,
             "pump": {"kind": "main"}},
            {"id": "ai-1", "profile": "ai-4-20ma-8ch", "transport": TCP},
        ],
    }


def problems(data: dict[str, Any]) -> list[str]:
    return [str(problem) for problem in check(parse_site(data))]


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_shipped_example_conforms(example: Path) -> None:
    assert check(load_site(example)) == []


def test_a_conforming_site_has_no_problems() -> None:
    assert problems(site_data()) == []


def test_fire_alarm_disabled_site_wide() -> None:
    data = site_data()
    data["rules"] = {"fire_alarm": {"enabled": False}}
    assert problems(data) == [
        "rules.fire_alarm.enabled: false: fire alarms would never be raised (GB 25506)"
    ]


def test_fire_alarm_disabled_for_a_panel() -> None:
    assert problems(site_data(rules={"fire_alarm": {"enabled": False}})) == [
        "devices[0].rules.fire_alarm.enabled: false: fire alarms of panel-1 would never be"
        " raised (GB 25506)"
    ]
    # An analog module raises no fire alarm: switching the rule off there changes nothing.
    data = site_data()
    data["devices"][2]["rules"] = {"fire_alarm": {"enabled": False}}
    assert problems(data) == []


def test_comm_loss_disabled_for_a_panel_or_pump() -> None:
    assert problems(site_data(rules={"comm_loss": {"enabled": False}})) == [
        "devices[0].rules.comm_loss.enabled: false: a lost panel-1 would never be reported"
        " (GB 25506 allows 100 s)"
    ]
    data = site_data(rules={"comm_loss": {"enabled": True}})
    data["rules"] = {"comm_loss": {"enabled": False}}
    assert problems(data) == [
        "rules.comm_loss.enabled: false: a lost pump-1 would never be reported"
        " (GB 25506 allows 100 s)"
    ]


def test_a_slowly_polled_panel() -> None:
    assert problems(site_data(poll_interval=600)) == [
        "devices[0].poll_interval: 600: a fire on panel-1 could take up to 1201 s to show"
        " (2 × 600 s read interval + 1 s timeout; GB 25506 allows 10 s)"
    ]
    assert problems(site_data(poll_interval=4.5)) == []  # 2 × 4.5 + 1 = 10
    assert len(problems(site_data(poll_interval=4.6))) == 1


def test_a_fast_lane_for_the_system_word_puts_fires_in_time() -> None:
    lane = {"points": ["system_status"], "interval": 0.25}
    assert problems(site_data(poll_interval=600, fast_lane=lane)) == []
    # Detectors alone in the lane: one the config does not list shows only through the system
    # word, read every 600 s.
    slow = site_data(poll_interval=600, fast_lane={"points": ["SD1"], "interval": 0.25})
    assert problems(slow)[0].startswith("devices[0].poll_interval: 600: ")
    lane["interval"] = 5
    assert problems(site_data(poll_interval=600, fast_lane=lane)) == [
        "devices[0].fast_lane.interval: 5: a fire on panel-1 could take up to 11 s to show"
        " (2 × 5 s read interval + 1 s timeout; GB 25506 allows 10 s)"
    ]


def test_a_long_answer_timeout() -> None:
    assert problems(site_data(timeout=9)) == [
        "devices[0].timeout: 9: a fire on panel-1 could take up to 11 s to show"
        " (2 × 1 s read interval + 9 s timeout; GB 25506 allows 10 s)"
    ]
    # On an RTU line the line's timeout applies unless the device sets its own.
    data = site_data(transport={"type": "rtu", "line": "bus"})
    data["lines"] = [{"id": "bus", "type": "rtu-over-tcp", "host": "127.0.0.1", "timeout": 8.5}]
    assert problems(data)[0].startswith("lines[0].timeout: 8.5: a fire on panel-1 could take")


def test_mqtt_panels_by_their_publish_interval() -> None:
    mqtt = {"type": "mqtt", "topic": "vendor/panel-1/state"}
    words = [
        {"name": "system_status", "path": "sys.status"},
        {"name": "SD1", "index": 0, "path": "pts[0].st"},
    ]
    assert problems(site_data(transport=mqtt, points=words, poll_interval=6)) == [
        "devices[0].poll_interval: 6: a fire on panel-1 could take up to 12 s to show"
        " (2 × 6 s read interval + 0 s timeout; GB 25506 allows 10 s)"
    ]
    # Point words only: a point's fire shows in the first message.
    assert problems(site_data(transport=mqtt, points=words[1:], poll_interval=6)) == []


def test_a_long_comm_loss_window() -> None:
    data = site_data()
    data["rules"] = {"comm_loss": {"cap_seconds": 300}}
    data["devices"][1]["poll_interval"] = 60
    data["devices"][2]["poll_interval"] = 60  # an analog module's loss is not a GB 25506 limit
    assert problems(data) == [
        "devices[1].poll_interval: 60: a lost pump-1 would be reported only after 180 s"
        " (min(3 intervals × 60 s, rules.comm_loss.cap_seconds 300 s); GB 25506 allows 100 s)"
    ]
    data["rules"] = {}
    assert problems(data) == []  # capped at 100 s by default
    data["devices"][1]["rules"] = {"comm_loss": {"cap_seconds": 150}}
    assert problems(data)[0].endswith(
        "(min(3 intervals × 60 s, devices[1].rules.comm_loss.cap_seconds 150 s);"
        " GB 25506 allows 100 s)"
    )


def test_report_by_exception_needs_a_snapshot_every_100_s() -> None:
    data = site_data()
    data["devices"][1]["report"] = {"by_exception": True, "integrity_seconds": 300}
    assert problems(data) == [
        "devices[1].report.integrity_seconds: 300: a change of pump-1 lost in transit would"
        " wait up to 300 s for the next full report (GB 25506 allows 100 s)"
    ]
    data["devices"][1]["report"] = {"by_exception": False, "integrity_seconds": 300}
    assert problems(data) == []


def test_a_refused_site_names_the_way_out() -> None:
    with pytest.raises(ConfigError) as caught:
        enforce(parse_site(site_data(poll_interval=600), source="tower.yaml"))
    assert caught.value.source == "tower.yaml"
    [problem] = caught.value.problems
    assert problem.message.endswith(HINT)
    assert "fix it, or declare nonconforming: {reason, approved_by}" in str(caught.value)


def test_a_declared_nonconforming_site_runs_with_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = site_data(poll_interval=600)
    data["nonconforming"] = APPROVED
    caplog.set_level(logging.WARNING, logger="fireroom.conformance")
    site = load_conforming_site(write(tmp_path, data))
    assert site.config.nonconforming is not None
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "approved by Li Wei" in record.getMessage()
    assert "devices[0].poll_interval: 600: a fire on panel-1" in record.getMessage()


def test_check_config_refuses_in_a_process(tmp_path: Path) -> None:
    data = site_data()
    data["rules"] = {"fire_alarm": {"enabled": False}}
    path = write(tmp_path, data)
    done = subprocess.run(
        [sys.executable, "-m", "fireroom.cli", "check-config", str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert (
        "rules.fire_alarm.enabled: false: fire alarms would never be raised (GB 25506);"
        " fix it, or declare nonconforming: {reason, approved_by}"
    ) in done.stderr
    assert str(path) in done.stderr
    assert done.stdout == ""


def test_check_config_warns_about_a_declared_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = site_data(poll_interval=600)
    data["nonconforming"] = APPROVED
    assert main(["check-config", str(write(tmp_path, data))]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "warning: devices[0].poll_interval: 600: a fire on panel-1 could take up to 1201 s" \
        " to show (2 × 600 s read interval + 1 s timeout; GB 25506 allows 10 s)" in out
    assert f"nonconforming, approved by Li Wei: {APPROVED['reason']}" in out
    assert out[-1] == "config OK"


def test_check_config_says_when_a_declaration_is_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = site_data()
    data["nonconforming"] = APPROVED
    assert main(["check-config", str(write(tmp_path, data))]) == 0
    out = capsys.readouterr().out
    assert "declared nonconforming, but no problem found" in out


@pytest.mark.parametrize("command", ["demo", "gateway", "rules", "notify", "api"])
def test_no_service_starts_on_a_refused_site(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, site_data(poll_interval=600))
    assert main([command, "--config", str(path), "--data-dir", str(tmp_path / "data")]) == 2
    assert "devices[0].poll_interval: 600: a fire on panel-1" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # refused before anything was opened
