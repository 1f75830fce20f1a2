"""The peer's own virtualenv: created on first use, reused while its requirements still match."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.peer.progress import say

__all__ = ["PEER_VERSION", "REQUIREMENTS", "PeerVenv", "default_location", "ensure_peer_venv"]

PEER_VERSION = "3.8.5"
# The Modbus connector pip-installs exactly this pymodbus (and the serial packages) at import
# time when it finds anything else; installed here, the connector starts without touching pip.
PYMODBUS_VERSION = "3.9.2"
REQUIREMENTS = (
    f"thingsboard-gateway=={PEER_VERSION}",
    f"pymodbus=={PYMODBUS_VERSION}",
    "pyserial>=3.5",
    "pyserial-asyncio>=0.6",
)
_MARKER = "fireroom-peer.json"
_CHECK = (
    "import importlib.metadata as m, serial, serial_asyncio, thingsboard_gateway;"
    f"assert m.version('pymodbus') == {PYMODBUS_VERSION!r}, m.version('pymodbus');"
    f"assert m.version('thingsboard-gateway') == {PEER_VERSION!r}"
)


@dataclass(frozen=True)
class PeerVenv:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def default_location() -> Path:
    """`$XDG_CACHE_HOME/fireroom/peer-venv`, outside the repository and its `.venv`."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "fireroom" / "peer-venv"


def _marker_matches(venv: PeerVenv) -> bool:
    marker = venv.path / _MARKER
    if not venv.python.exists() or not marker.exists():
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(recorded.get("requirements") == list(REQUIREMENTS))


def _run(command: list[str], what: str, timeout: float) -> None:
    # pip's own output goes to stderr, so stdout keeps only the benchmark's JSON lines.
    try:
        subprocess.run(command, check=True, stdout=sys.stderr, stderr=sys.stderr, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{what} failed with exit code {exc.returncode}") from exc
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what} did not finish within {timeout:.0f} s") from exc


def ensure_peer_venv(path: Path) -> PeerVenv:
    """Reuse the virtualenv at `path` if it holds the requirements, else (re)create it."""
    venv = PeerVenv(path)
    if _marker_matches(venv):
        say(f"peer venv {path}: reusing (thingsboard-gateway {PEER_VERSION})")
        return venv
    started = time.monotonic()
    say(f"peer venv {path}: creating; installing {' '.join(REQUIREMENTS)} from PyPI")
    path.parent.mkdir(parents=True, exist_ok=True)
    # The interpreter running the benchmark, so the peer runs on the same Python version.
    _run([sys.executable, "-m", "venv", "--clear", str(path)], "creating the peer venv", 120)
    _run(
        [
            str(venv.python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            *REQUIREMENTS,
        ],
        "installing the peer",
        900,
    )
    _run([str(venv.python), "-c", _CHECK], "checking the peer install", 120)
    (path / _MARKER).write_text(
        json.dumps({"requirements": list(REQUIREMENTS), "installed": time.time()}),
        encoding="utf-8",
    )
    say(f"peer venv ready after {time.monotonic() - started:.0f} s")
    return venv
