"""Real servers for the tests: Mosquitto on a free loopback port, socat pty pairs, and more."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Broker",
    "HttpServer",
    "free_port",
    "run_influxdb",
    "run_mosquitto",
    "run_socat_pty_pair",
    "run_victoria_metrics",
    "wait_for_port",
]


@dataclass(frozen=True)
class Broker:
    host: str
    port: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listen_ports(count: int) -> list[int]:
    """Distinct free ports below the ephemeral range, for servers that bind later.

    `free_port()` hands out an ephemeral port, which any outgoing connection may take before the
    server binds it; with a hundred device servers that happens. Ports below the range are only
    ever taken by listeners.
    """
    low, _ = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    rng = random.Random()
    ports: set[int] = set()
    while len(ports) < count:
        port = rng.randrange(10000, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.add(port)
    return sorted(ports)


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def _mosquitto_binary() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("mosquitto is not installed: run scripts/test.sh, which installs it")


@contextlib.contextmanager
def run_mosquitto(directory: Path, port: int | None = None) -> Iterator[Broker]:
    """Start a real Mosquitto bound to 127.0.0.1 and stop it afterwards."""
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "max_packet_size 8388608\n"
        f"log_dest file {directory / 'mosquitto.log'}\n"
        "log_type error\nlog_type warning\nlog_type notice\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [_mosquitto_binary(), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port)
        yield Broker("127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class HttpServer:
    """A real server reached over HTTP on loopback: InfluxDB 1.x or VictoriaMetrics."""

    url: str
    port: int
    directory: Path


def _binary(name: str, package: str) -> str:
    for candidate in (shutil.which(name), f"/usr/bin/{name}", f"/usr/sbin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError(f"{name} is not installed (Debian package {package}): run scripts/test.sh")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"server exited with {process.returncode}: {tail}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status < 500:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def run_influxdb(directory: Path, port: int | None = None) -> Iterator[HttpServer]:
    """Start a real InfluxDB 1.x (Debian `influxdb`) on loopback with its data in `directory`.

    Passing the same directory and port again restarts it on the same data.
    """
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "influxdb.conf"
    config.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{free_port()}"\n'
        f'[meta]\n  dir = "{directory / "meta"}"\n'
        f'[data]\n  dir = "{directory / "data"}"\n  wal-dir = "{directory / "wal"}"\n'
        '  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        '  max-body-size = 0\n'
        "[monitor]\n  store-enabled = false\n"
        "[ifql]\n  enabled = false\n"
        '[logging]\n  level = "warn"\n',
        encoding="utf-8",
    )
    log = directory / "influxd.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [_binary("influxd", "influxdb"), "-config", str(config)], stdout=out, stderr=out
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/ping", process, log)
        yield HttpServer(url, port, directory)
    finally:
        _stop(process)


@contextlib.contextmanager
def run_victoria_metrics(directory: Path, port: int | None = None) -> Iterator[HttpServer]:
    """Start a real VictoriaMetrics (Debian `victoria-metrics`), which takes `/api/v2/write`."""
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "victoria-metrics.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                _binary("victoria-metrics", "victoria-metrics"),
                f"-httpListenAddr=127.0.0.1:{port}",
                f"-storageDataPath={directory / 'data'}",
                "-loggerLevel=WARN",
                "-search.latencyOffset=0s",
            ],
            stdout=out,
            stderr=out,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/health", process, log)
        yield HttpServer(url, port, directory)
    finally:
        _stop(process)


@contextlib.contextmanager
def run_socat_pty_pair(directory: Path, timeout: float = 10.0) -> Iterator[tuple[Path, Path]]:
    """Two pseudo-terminals joined by socat (Debian `socat`): a serial line without hardware.

    Yields (gateway end, simulator end), the paths of links to the two ptys. Bytes written to
    one come out of the other, raw, as over a null-modem cable.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ends = (directory / "gateway-end", directory / "simulator-end")
    log = directory / "socat.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [_binary("socat", "socat"), "-d", "-d",
             *(f"pty,raw,echo=0,link={end}" for end in ends)],
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + timeout
        while not all(end.exists() for end in ends):
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"socat exited with {process.returncode}: {tail}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"socat made no pty pair in {directory} within {timeout} s")
            time.sleep(0.02)
        yield ends
    finally:
        _stop(process)
