"""`fireroom simulate --serial-port LINE=PATH`: bad specs are refused, good ones served."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from fireroom.cli import EXIT_CONFIG, main

pytestmark = pytest.mark.timeout(60)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rtu-lines.yaml"
FIREROOM = [sys.executable, "-m", "fireroom.cli"]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("pump-room", "pump-room: give LINE=PATH, e.g. riser=/dev/pts/7"),
        ("=/dev/ttyUSB1", "=/dev/ttyUSB1: give LINE=PATH, e.g. riser=/dev/pts/7"),
        ("pump-room=", "pump-room=: give LINE=PATH, e.g. riser=/dev/pts/7"),
        ("basement=/dev/ttyUSB1",
         "basement=/dev/ttyUSB1: 'basement' is not one of the site's serial lines: pump-room"),
        ("roof=/dev/ttyUSB1", "roof=/dev/ttyUSB1: line 'roof' is rtu-over-tcp 127.0.0.1:15030:"
                              " it is served on its host and port"),
    ],
)
def test_bad_serial_port_specs_exit_2_naming_each(
    spec: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["simulate", "--config", str(EXAMPLE), "--serial-port", spec])
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith("error: --serial-port: 1 problem(s)\n")
    assert f"  {problem}\n" in err


def test_every_bad_spec_is_reported_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--config", str(EXAMPLE), "--serial-port", "pump-room=/dev/a",
                 "--serial-port", "pump-room=/dev/b", "--serial-port", "roof"])
    assert code == EXIT_CONFIG
    assert capsys.readouterr().err.splitlines()[1:] == [
        "  pump-room=/dev/b: line 'pump-room' is given twice",
        "  roof: give LINE=PATH, e.g. riser=/dev/pts/7",
    ]


def test_help_says_the_line_port_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--serial-port LINE=PATH" in text
    assert "without it the simulator opens the line's own `port`" in text


def test_bad_spec_exits_2_from_the_command_line() -> None:
    result = subprocess.run(
        [*FIREROOM, "simulate", "--config", str(EXAMPLE), "--serial-port", "pump-room"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "error: --serial-port: 1 problem(s)" in result.stderr
    assert "pump-room: give LINE=PATH" in result.stderr
    assert "Traceback" not in result.stderr


SITE = """\
site: {{id: cli-serial-port}}
lines:
  - {{id: riser, type: serial, port: "{gateway_end}", baudrate: 19200}}
devices:
  - {{id: ai-1, profile: ai-4-20ma-8ch, unit_id: 5, transport: {{type: rtu, line: riser}}}}
"""


async def test_simulator_serves_a_serial_line_on_the_given_port(
    pty_pair: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The line's own port is the gateway's end of the pair: were the simulator to open it,
    # the master below would never hear an answer.
    caplog.set_level(logging.CRITICAL, logger="pymodbus")
    gateway_end, simulator_end = pty_pair
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(gateway_end=gateway_end), encoding="utf-8")
    log = tmp_path / "simulate.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *FIREROOM, "simulate", "--config", str(config),
            "--serial-port", f"riser={simulator_end}", stdout=out, stderr=out,
        )
    master = AsyncModbusSerialClient(str(gateway_end), framer=FramerType.RTU, baudrate=19200,
                                     timeout=0.3, retries=0, reconnect_delay=0)
    try:
        assert await master.connect()
        async with asyncio.timeout(30):
            while True:
                assert process.returncode is None, log.read_text()
                try:
                    reply = await master.read_input_registers(21, count=1, device_id=5)
                except ModbusException:
                    continue  # the simulator is not serving yet
                if not reply.isError():
                    break
    finally:
        master.close()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            code = await process.wait()
    assert reply.registers == [315]  # module temperature 31.5 °C, in tenths
    assert code == 0, log.read_text()
    assert f"serial port {simulator_end}" in log.read_text()
