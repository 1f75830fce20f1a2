"""The race: both gateways on one simulated site and one broker, measured over one window."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.peer import thingsboard as tb
from benchmarks.peer.listener import Listener, Tally
from benchmarks.peer.proc import GatewayProcess
from benchmarks.peer.progress import say
from benchmarks.peer.results import Gateway, Snapshot, Window, loadavg, results
from benchmarks.peer.venv import PEER_VERSION, PYMODBUS_VERSION, PeerVenv, ensure_peer_venv
from fireroom import topics
from fireroom.config import DeviceConfig, Site, load_site
from simulators import SiteSimulator
from tests.servers import free_port, run_mosquitto, wait_for_port

__all__ = ["Options", "race"]

SITE = "bench"
FIREROOM = "fireroom"
PEER = "thingsboard-gateway"


@dataclass(frozen=True)
class Options:
    devices: int
    points: int
    poll: float
    window: float
    warmup: float
    silence_at: float  # share of the window after which one device goes silent
    startup_timeout: float
    peer_venv: Path
    mode: str


def _site_yaml(options: Options, broker_port: int, data: Path) -> str:
    device_extra: dict[str, Any] = {}
    if "report" in DeviceConfig.model_fields:
        # Every point in every scan's message, as TB's ON_RECEIVED sends every polled value.
        device_extra["report"] = {"by_exception": False}
    config: dict[str, Any] = {
        "site": {"id": SITE, "name": "fireroom vs ThingsBoard IoT Gateway"},
        "mqtt": {"host": "127.0.0.1", "port": broker_port},
        "data_dir": str(data),
        "devices": [
            {
                "id": f"panel-{d:03d}",
                "profile": "gbt26875-panel",
                "transport": {"type": "tcp", "host": "127.0.0.1", "port": free_port()},
                "poll_interval": options.poll,
                "timeout": 1.0,
                "points": [{"name": f"P{i:04d}", "index": i} for i in range(options.points)],
                **device_extra,
            }
            for d in range(options.devices)
        ],
    }
    return yaml.safe_dump(config)


def _clean_environment() -> dict[str, str]:
    # FIREROOM_MQTT_URL and friends would point the gateway elsewhere than the test broker.
    return {k: v for k, v in os.environ.items() if not k.startswith("FIREROOM_")}


def _peer_environment(home: Path, config_dir: Path) -> dict[str, str]:
    """A minimal environment: TB takes `host`, `port`, `username`, `accessToken` and more
    from the environment over its config file, so nothing of ours may leak into it."""
    # TB posts to updates.thingsboard.io at start; a proxy on a closed loopback port makes that
    # fail at once instead of leaving the machine.
    nowhere = f"http://127.0.0.1:{free_port()}"
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TB_GW_CONFIG_DIR": f"{config_dir}/",
        "HTTPS_PROXY": nowhere,
        "HTTP_PROXY": nowhere,
        "https_proxy": nowhere,
        "http_proxy": nowhere,
        "NO_PROXY": "127.0.0.1,localhost",
    }


def _gateways(
    site_file: Path, site: Site, venv: PeerVenv, root: Path, broker_port: int
) -> dict[str, GatewayProcess]:
    fireroom = GatewayProcess(
        FIREROOM,
        [sys.executable, "-m", "fireroom.cli", "gateway", "--config", str(site_file)],
        log=root / "fireroom-gateway.log",
        cwd=root,
        env=_clean_environment(),
    )
    peer_home = root / "thingsboard"
    config_dir = tb.write_config(
        site, peer_home / "config", broker_port, root / "thingsboard-service.log"
    )
    peer = GatewayProcess(
        PEER,
        [str(venv.python), "-m", "thingsboard_gateway.tb_gateway"],
        log=root / "thingsboard-gateway.log",
        cwd=peer_home,
        env=_peer_environment(peer_home, config_dir),
    )
    return {FIREROOM: fireroom, PEER: peer}


def _check_running(gateways: dict[str, GatewayProcess], listener: Listener) -> None:
    listener.check()
    for gateway in gateways.values():
        if gateway.exited() is not None:
            raise RuntimeError(f"{gateway.name} exited:\n{gateway.log_tail()}")


async def _until_ready(
    gateways: dict[str, GatewayProcess], listener: Listener, devices: set[str]
) -> None:
    """Until each gateway has delivered values of every device."""
    tallies = {FIREROOM: listener.fireroom, PEER: listener.peer}
    started = time.monotonic()
    waiting = set(gateways)
    while waiting:
        _check_running(gateways, listener)
        for name in sorted(waiting):
            if devices <= tallies[name].devices:
                say(
                    f"{name}: all {len(devices)} devices delivering after "
                    f"{time.monotonic() - started:.1f} s"
                )
                waiting.discard(name)
        await asyncio.sleep(0.1)


def _not_ready(gateways: dict[str, GatewayProcess], listener: Listener, devices: set[str]) -> str:
    tallies = {FIREROOM: listener.fireroom, PEER: listener.peer}
    lines = []
    for name, gateway in gateways.items():
        missing = sorted(devices - tallies[name].devices)
        if missing:
            lines.append(f"--- {name}: nothing from {', '.join(missing)}; its log ends:")
            lines.append(gateway.log_tail())
    return "\n".join(lines)


def _snapshot(gateway: GatewayProcess, tally: Tally) -> Snapshot:
    return Snapshot(
        time.monotonic(), gateway.cpu_seconds(), tally.points, tally.empty, tally.messages
    )


async def _measure(
    options: Options,
    site: Site,
    simulator: SiteSimulator,
    listener: Listener,
    gateways: dict[str, GatewayProcess],
) -> tuple[Window, Gateway, Gateway]:
    tallies = {FIREROOM: listener.fireroom, PEER: listener.peer}
    silent = site.config.devices[-1].id
    say(
        f"measuring for {options.window:g} s; {silent} goes silent after "
        f"{options.window * options.silence_at:.1f} s"
    )
    load_start = loadavg()
    before = {name: _snapshot(gateway, tallies[name]) for name, gateway in gateways.items()}
    own_before = time.process_time()
    start = before[FIREROOM].at
    silence_due = start + options.window * options.silence_at
    silenced_at: float | None = None
    while time.monotonic() < start + options.window:
        _check_running(gateways, listener)
        if silenced_at is None and time.monotonic() >= silence_due:
            simulator.server(silent).silence()
            silenced_at = time.monotonic()
            say(f"{silent} silenced")
        await asyncio.sleep(0.05)
    after = {name: _snapshot(gateway, tallies[name]) for name, gateway in gateways.items()}
    own_cpu = time.process_time() - own_before
    say("window over")
    assert silenced_at is not None  # the loop passes silence_due before its end
    flaps = listener.peer.count_lost(silent, silenced_at)
    peer_notes: list[str] = []
    if flaps > 1:
        peer_notes.append(
            f"reported {silent} lost {flaps} times: the device still accepts TCP connections, so "
            f"at each poll TB connects, publishes {tb.CONNECT_TOPIC}, and publishes "
            f"{tb.DISCONNECT_TOPIC} when the read times out"
        )
    window = Window(
        mode=options.mode,
        devices=options.devices,
        points_per_device=options.points,
        values_per_device=len(site.points[silent]),
        poll=options.poll,
        timeout=site.config.devices[-1].timeout,
        warmup=options.warmup,
        silent=silent,
        silenced_at=silenced_at,
        own_cpu=own_cpu,
        load_start=load_start,
        notes=[
            f"peer: thingsboard-gateway {PEER_VERSION} with pymodbus {PYMODBUS_VERSION}; this "
            f"benchmark answered its getSessionLimits call {listener.session_limit_calls} "
            "time(s) as ThingsBoard would, with no rate limits",
        ],
    )
    ours = Gateway(
        name=FIREROOM,
        version=importlib.metadata.version("fireroom"),
        before=before[FIREROOM],
        after=after[FIREROOM],
        peak_rss_mib=gateways[FIREROOM].peak_rss_mib(),
        silent_detected_at=listener.fireroom.first_lost(silent, silenced_at),
        silent_reports=listener.fireroom.count_lost(silent, silenced_at),
        silent_report=f"retained state 'offline' on {topics.status(SITE, silent)}",
        notes=[],
    )
    theirs = Gateway(
        name=PEER,
        version=PEER_VERSION,
        before=before[PEER],
        after=after[PEER],
        peak_rss_mib=gateways[PEER].peak_rss_mib(),
        silent_detected_at=listener.peer.first_lost(silent, silenced_at),
        silent_reports=flaps,
        silent_report=f'{{"device": "{silent}"}} on {tb.DISCONNECT_TOPIC}',
        notes=peer_notes,
    )
    return window, ours, theirs


async def race(options: Options) -> list[dict[str, Any]]:
    """Run the race; returns one result per gateway and the comparison, last."""
    venv = ensure_peer_venv(options.peer_venv)
    with tempfile.TemporaryDirectory(prefix="fireroom-peer-") as tmp:
        root = Path(tmp)
        with run_mosquitto(root / "mosquitto") as broker:
            site_file = root / "site.yaml"
            site_file.write_text(_site_yaml(options, broker.port, root / "data"), encoding="utf-8")
            site = load_site(site_file)
            gateways = _gateways(site_file, site, venv, root, broker.port)
            devices = {device.id for device in site.config.devices}
            say(
                f"simulating {len(devices)} panels x {options.points} points "
                f"({len(site.points[min(devices)])} values each), broker 127.0.0.1:{broker.port}"
            )
            async with (
                SiteSimulator(site) as simulator,
                Listener(port=broker.port, site=SITE) as listener,
            ):
                for device in site.config.devices:
                    if device.transport.type == "tcp":
                        wait_for_port(device.transport.host, device.transport.port)
                try:
                    for gateway in gateways.values():
                        gateway.start()
                    try:
                        async with asyncio.timeout(options.startup_timeout):
                            await _until_ready(gateways, listener, devices)
                    except TimeoutError:
                        raise RuntimeError(
                            f"not every gateway delivers after {options.startup_timeout:g} s\n"
                            + _not_ready(gateways, listener, devices)
                        ) from None
                    say(f"warming up for {options.warmup:g} s")
                    await asyncio.sleep(options.warmup)
                    window, ours, theirs = await _measure(
                        options, site, simulator, listener, gateways
                    )
                finally:
                    for gateway in gateways.values():
                        gateway.stop()
    return results(window, ours, theirs)
