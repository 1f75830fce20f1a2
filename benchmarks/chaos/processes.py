"""The real processes a campaign runs and breaks: Mosquitto and the `fireroom` commands.

Each `fireroom` process runs under libfaketime when it is installed (Debian `faketime`), with
one shared offset file, so the campaign can step the wall clock of the whole chain by an hour
while the monotonic clock runs on, as an NTP correction would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.servers import wait_for_port

__all__ = ["FAKETIME_LIB", "Fireroom", "Mosquitto"]

_FAKETIME_LIBS = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
)
FAKETIME_LIB = next((lib for lib in _FAKETIME_LIBS if Path(lib).exists()), None)


def _mosquitto_binary() -> str:
    for candidate in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto"):
        if Path(candidate).exists():
            return candidate
    raise SystemExit("chaos: mosquitto is not installed (Debian package mosquitto)")


class Mosquitto:
    """A broker on a fixed loopback port that can be stopped and started again.

    Persistence is on, as in production: sessions and retained messages survive a restart.
    """

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "mosquitto.conf"
        # Started as root, Mosquitto would drop to its own user and fail to save its database.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\n{user}"
            f"persistence true\npersistence_location {directory}/\n"
            "autosave_interval 1\nmax_queued_messages 10000\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.directory / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            [_mosquitto_binary(), "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )
        wait_for_port("127.0.0.1", self.port, timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class Fireroom:
    """The `fireroom` processes of one site, started as a service manager would restart them."""

    def __init__(self, directory: Path, config: Path) -> None:
        self.directory = directory
        self.config = config
        self.clock_file = directory / "faketime"
        self.clock_file.write_text("+0\n", encoding="utf-8")
        self.commands: dict[str, list[str]] = {}
        self.envs: dict[str, dict[str, str]] = {}
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def add(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.commands[name] = [sys.executable, "-m", "fireroom.cli", *args]
        self.envs[name] = env or {}

    def start(self, name: str) -> None:
        env = {**os.environ, **self.envs[name]}
        if FAKETIME_LIB is not None:
            env.update({
                "LD_PRELOAD": FAKETIME_LIB,
                "FAKETIME_TIMESTAMP_FILE": str(self.clock_file),
                "FAKETIME_CACHE_DURATION": "1",
                # Only the wall clock jumps; timers and timeouts keep their monotonic clock.
                "DONT_FAKE_MONOTONIC": "1",
            })
        log = (self.directory / f"{name}.log").open("ab")
        self.running[name] = subprocess.Popen(
            self.commands[name], stdout=log, stderr=subprocess.STDOUT, env=env
        )

    def start_all(self) -> None:
        for name in self.commands:
            self.start(name)

    def kill(self, name: str) -> None:
        process = self.running[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def alive(self, name: str) -> bool:
        return self.running[name].poll() is None

    def jump_clock(self, seconds: float) -> None:
        self.clock_file.write_text(f"{seconds:+.0f}\n", encoding="utf-8")

    def stop_all(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, process in self.running.items():
            try:
                codes[name] = process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = None
                process.wait()
        return codes

    def log_tail(self, name: str, chars: int = 2000) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")[-chars:]
