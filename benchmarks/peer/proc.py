"""A gateway process: started with its own log, measured from /proc, stopped within bounds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import IO

from benchmarks.peer.progress import say

__all__ = ["GatewayProcess"]

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    # The command name may hold spaces and parentheses: the fields start after the last ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            children = _children(current)
            found.extend(children)
            pending.extend(children)
    return found


class GatewayProcess:
    """One gateway under test.

    Args:
        name: how results and logs call it.
        command: the command line.
        log: where its stdout and stderr go.
        cwd: its working directory.
        env: its whole environment.
    """

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        log: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.log = log
        self.cwd = cwd
        self.env = env
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._process.pid

    def start(self) -> None:
        self._log_file = self.log.open("ab")
        self._process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        say(f"{self.name}: started, pid {self._process.pid}, log {self.log}")

    def exited(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def cpu_seconds(self) -> float:
        """User and system time of the process, its reaped children and its live descendants."""
        total = 0
        for pid in (self.pid, *_descendants(self.pid)):
            with contextlib.suppress(OSError):
                fields = _stat(pid)
                total += sum(int(fields[i]) for i in (11, 12, 13, 14))
        return total / _TICKS

    def peak_rss_mib(self) -> float:
        """VmHWM of the process plus that of its live descendants."""
        total_kib = 0
        for pid in (self.pid, *_descendants(self.pid)):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total_kib += int(line.split()[1])
        return total_kib / 1024

    def log_tail(self, characters: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-characters:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; leftover descendants are killed by pid."""
        process = self._process
        if process is None:
            return
        descendants = _descendants(process.pid) if process.poll() is None else []
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                say(f"{self.name}: no exit {timeout:g} s after SIGTERM, killing it")
                process.kill()
                process.wait(timeout=timeout)
        for pid in descendants:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        say(f"{self.name}: stopped (exit code {process.returncode})")
