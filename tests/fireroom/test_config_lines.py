"""Site config of Modbus RTU lines: serial ports, serial servers and the unit ids on them."""

from __future__ import annotations

from typing import Any

import pytest

from fireroom.config import RtuOverTcpLine, SerialLine, parse_site
from fireroom.errors import ConfigError


def site(**changes: Any) -> dict[str, Any]:
    """Two devices on a serial line and one behind a serial server."""
    data: dict[str, Any] = {
        "site": {"id": "lines"},
        "lines": [
            {"id": "riser", "type": "serial", "port": "/dev/ttyUSB0"},
            {"id": "annex", "type": "rtu-over-tcp", "host": "10.0.0.5", "port": 4001},
        ],
        "devices": [
            {"id": "ai-1", "profile": "ai-4-20ma-8ch", "unit_id": 1,
             "transport": {"type": "rtu", "line": "riser"}},
            {"id": "ai-2", "profile": "ai-4-20ma-8ch", "unit_id": 2,
             "transport": {"type": "rtu", "line": "riser"}},
            {"id": "ai-3", "profile": "ai-4-20ma-8ch", "unit_id": 1,
             "transport": {"type": "rtu", "line": "annex"}},
            {"id": "pump-1", "profile": "electric-pump-controller", "unit_id": 1,
             "transport": {"type": "tcp", "host": "10.0.0.9"}},
        ],
    }
    data.update(changes)
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_site(data)
    return [str(problem) for problem in caught.value.problems]


def test_lines_and_their_devices_parse() -> None:
    config = parse_site(site()).config
    riser, annex = config.lines
    assert isinstance(riser, SerialLine)
    assert isinstance(annex, RtuOverTcpLine)
    assert (riser.baudrate, riser.bytesize, riser.parity, riser.stopbits) == (9600, 8, "N", 1)
    assert config.line("annex") is annex
    with pytest.raises(KeyError):
        config.line("basement")


def test_frame_gap_is_3_5_characters_unless_configured() -> None:
    assert SerialLine(id="a", port="/dev/x").frame_gap() == pytest.approx(3.5 * 10 / 9600)
    even = SerialLine(id="a", port="/dev/x", baudrate=19200, parity="E", stopbits=2)
    assert even.frame_gap() == pytest.approx(3.5 * 12 / 19200)
    assert SerialLine(id="a", port="/dev/x", baudrate=115200).frame_gap() == 0.00175
    assert SerialLine(id="a", port="/dev/x", inter_frame_delay=0.05).frame_gap() == 0.05
    assert RtuOverTcpLine(id="a", host="h").frame_gap() == 0.0
    assert RtuOverTcpLine(id="a", host="h", inter_frame_delay=0.02).frame_gap() == 0.02


def test_device_on_a_missing_line_names_the_path_and_the_lines() -> None:
    data = site()
    data["devices"][1]["transport"]["line"] = "basement"
    assert problems(data) == [
        "devices[1].transport.line: 'basement' is not one of the site's lines: riser, annex"
    ]
    assert problems(site(lines=[])) == [
        f"devices[{d}].transport.line: '{line}' is not one of the site's lines: none"
        for d, line in enumerate(["riser", "riser", "annex"])
    ]


def test_a_unit_id_is_used_once_per_line() -> None:
    data = site()
    data["devices"][1]["unit_id"] = 1
    assert problems(data) == [
        "devices[1].unit_id: 1 is already the unit id of 'ai-1' on line 'riser'"
    ]


def test_broadcast_unit_id_is_refused_on_a_line() -> None:
    data = site()
    data["devices"][2]["unit_id"] = 0
    assert problems(data) == [
        "devices[2].unit_id: 0 is the broadcast address of an RTU line: use 1 to 247"
    ]


def test_repeated_line_id_names_the_first() -> None:
    data = site()
    data["lines"][1]["id"] = "riser"
    assert "lines[1].id: 'riser' is already lines[0]" in problems(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("parity", "X"), ("bytesize", 9), ("stopbits", 3), ("baudrate", 100),
     ("inter_frame_delay", 2), ("timeout", 0)],
)
def test_bad_serial_settings_name_the_path_and_the_value(field: str, value: object) -> None:
    data = site()
    data["lines"][0][field] = value
    (problem,) = problems(data)
    assert problem.startswith(f"lines[0].{field}: {value!r}: ")


def test_every_line_problem_is_reported_at_once() -> None:
    data = site()
    data["devices"][0]["transport"]["line"] = "basement"
    data["devices"][2]["unit_id"] = 0
    data["lines"].append({"id": "annex", "type": "serial", "port": "/dev/ttyUSB1"})
    assert problems(data) == [
        "lines[2].id: 'annex' is already lines[1]",
        "devices[0].transport.line: 'basement' is not one of the site's lines: riser, annex",
        "devices[2].unit_id: 0 is the broadcast address of an RTU line: use 1 to 247",
    ]


def test_a_line_without_a_port_or_host_is_refused() -> None:
    data = site()
    del data["lines"][0]["port"]
    del data["lines"][1]["host"]
    assert problems(data) == ["lines[0].port: Field required", "lines[1].host: Field required"]


def test_an_unknown_line_type_names_the_types() -> None:
    data = site()
    data["lines"][0]["type"] = "rs232"
    assert problems(data) == [
        "lines[0]: type 'rs232' is not one of 'serial', 'rtu-over-tcp'"
    ]


def test_a_device_transport_error_names_the_field_not_the_branch() -> None:
    data = site()
    del data["devices"][0]["transport"]["line"]
    data["devices"][3]["transport"]["port"] = 0
    assert problems(data) == [
        "devices[0].transport.line: Field required",
        "devices[3].transport.port: 0: Input should be greater than or equal to 1",
    ]
