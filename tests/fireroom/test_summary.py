"""`fireroom check-config` on the shipped examples: every transport summarized as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from fireroom.cli import main
from fireroom.config import load_site
from fireroom.summary import summarize

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def check_config(name: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["check-config", str(EXAMPLES / name)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "config OK"
    return out


def test_rtu_lines_list_their_devices(capsys: pytest.CaptureFixture[str]) -> None:
    out = check_config("rtu-lines.yaml", capsys)
    start = out.index("2 RTU lines:")
    assert [" ".join(line.split()) for line in out[start + 1 : start + 3]] == [
        "pump-room serial /dev/ttyUSB0 9600 8N1: facp-3 (unit 1), pump-3 (unit 2), ai-3 (unit 3)",
        "roof rtu-over-tcp 127.0.0.1:15030: ai-roof (unit 1)",
    ]
    devices = {line.split()[0]: " ".join(line.split()) for line in out if line.startswith("  ")}
    assert "rtu line pump-room, unit 2, 24 points, poll 1 s" in devices["pump-3"]
    assert "rtu line roof, unit 1, 4 points, poll 2 s" in devices["ai-roof"]


def test_mqtt_devices_have_no_unit_id(capsys: pytest.CaptureFixture[str]) -> None:
    out = check_config("mqtt-devices.yaml", capsys)
    devices = [line for line in out if line.startswith("  ") and " mqtt " in line]
    assert len(devices) == 2
    assert not any("unit" in line for line in devices)
    assert "mqtt sensors/+/hub-1, 4 points, publishes every 30 s" in " ".join(devices[1].split())
    assert not any("RTU line" in line for line in out)


def test_a_line_without_devices_says_so() -> None:
    site = load_site(EXAMPLES / "rtu-lines.yaml")
    config = site.config.model_copy(update={
        "devices": [d for d in site.config.devices if d.id != "ai-roof"]
    })
    site.config = config
    assert "rtu-over-tcp 127.0.0.1:15030: no devices" in summarize(site)


def test_modbus_tcp_devices_keep_their_unit_id(capsys: pytest.CaptureFixture[str]) -> None:
    out = check_config("site.yaml", capsys)
    assert any("tcp 127.0.0.1:15020, unit 1, 71 points" in line for line in out)
