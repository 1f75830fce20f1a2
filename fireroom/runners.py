"""What each `fireroom` command runs: one TaskGroup per process, stopped by a signal or a timer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fireroom.clock import SystemClock
from fireroom.config import MqttConfig, Site

__all__ = ["api", "demo", "gateway", "list_scenarios", "rules", "simulate"]

log = logging.getLogger("fireroom")
DATABASE = "fireroom.sqlite3"


class _Stop(Exception):
    """Raised inside the TaskGroup to end a run cleanly."""


async def _stopper(duration: float | None) -> None:
    """Ends the run after `duration` seconds, or at SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):
                await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    raise _Stop


async def _run_until_stopped(
    jobs: dict[str, Callable[[], Awaitable[Any]]], duration: float | None = None
) -> None:
    try:
        async with asyncio.TaskGroup() as group:
            for name, job in jobs.items():
                group.create_task(job(), name=name)  # type: ignore[arg-type]
            group.create_task(_stopper(duration), name="stopper")
    except* _Stop:
        pass


def _mqtt(site: Site) -> MqttConfig:
    return site.config.mqtt.with_environment()


def _open_store(data_dir: Path) -> Any:
    from services.incidents.store import IncidentStore

    data_dir.mkdir(parents=True, exist_ok=True)
    return IncidentStore(data_dir / DATABASE, SystemClock())


async def gateway(site: Site) -> int:
    from gateway.service import Gateway

    service = Gateway(site, _mqtt(site))
    log.info("gateway for site %s: %d devices", site.id, len(site.config.devices))
    await _run_until_stopped({f"gateway[{site.id}]": service.run})
    return 0


async def rules(site: Site, data_dir: Path) -> int:
    from services.rules.service import RulesService

    store = _open_store(data_dir)
    service = RulesService(site, _mqtt(site), store)
    log.info("rules for site %s, incidents in %s", site.id, data_dir / DATABASE)
    await _run_until_stopped({f"rules[{site.id}]": service.run})
    return 0


async def api(site: Site | None, data_dir: Path, host: str, port: int) -> int:
    from services.api import serve_api

    store = _open_store(data_dir)
    log.info("API on http://%s:%d/api/v1 (docs at /docs), incidents in %s", host, port,
             data_dir / DATABASE)
    await _run_until_stopped({"api": lambda: serve_api(store, host=host, port=port)})
    return 0


def _scenario(name: str | None) -> Any:
    if name is None:
        return None
    from simulators.scenario import load_scenario

    return load_scenario(name)


async def simulate(site: Site, scenario: str | None, duration: float | None) -> int:
    from simulators.runtime import SiteSimulator

    async with SiteSimulator(site, scenario=_scenario(scenario)):
        log.info("simulating site %s%s", site.id, f", scenario {scenario}" if scenario else "")
        await _run_until_stopped({}, duration)
    return 0


def list_scenarios() -> int:
    from simulators.scenario import load_scenario, scenario_names

    for name in scenario_names():
        print(f"{name:<22} {load_scenario(name).description}")
    return 0


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


async def demo(
    site: Site,
    *,
    scenario: str | None,
    duration: float | None,
    as_json: bool,
    data_dir: Path,
    api_port: int,
    mqtt_port: int,
) -> int:
    from fireroom.broker import embedded_broker
    from gateway.service import Gateway
    from services.api import serve_api
    from services.rules.service import RulesService
    from simulators.runtime import SiteSimulator

    clock = SystemClock()
    played = _scenario(scenario)
    if played is not None and played.simulated:
        return await _demo_simulated(site, played, data_dir=data_dir, as_json=as_json,
                                     duration=duration)
    mqtt = MqttConfig(host="127.0.0.1", port=mqtt_port)
    store = _open_store(data_dir)
    started = clock.now()
    log.info(
        "demo of site %s: %d devices, broker 127.0.0.1:%d, API http://127.0.0.1:%d/api/v1, "
        "incidents in %s%s",
        site.id, len(site.config.devices), mqtt_port, api_port, data_dir / DATABASE,
        f", scenario {scenario}" if scenario else "",
    )
    rules_service = RulesService(site, mqtt, store, clock=clock)
    gateway_service = Gateway(site, mqtt, clock=clock)
    async with embedded_broker(port=mqtt_port), SiteSimulator(site, scenario=played, clock=clock):
        await _run_until_stopped(
            {
                "rules": rules_service.run,
                "gateway": gateway_service.run,
                "api": lambda: serve_api(store, host="127.0.0.1", port=api_port),
            },
            duration,
        )
    incidents = [
        incident for incident in store.list(limit=1000)
        if max(incident.raised_at, incident.last_triggered_at or 0) >= started
    ]
    _print_incidents(incidents, as_json)
    return 0


def simulated_engines(site: Site, clock: Any, data_dir: Path) -> list[Any]:
    """The engines a simulated scenario feeds: the same ones the rules service runs."""
    from services.rules.engine import RulesEngine

    return [RulesEngine(site, clock)]


async def _demo_simulated(
    site: Site, scenario: Any, *, data_dir: Path, as_json: bool, duration: float | None
) -> int:
    """A scenario on a simulated clock: no servers, the whole timeline as fast as it goes."""
    from fireroom.simrun import SimulatedRun, StepClock
    from services.incidents.store import IncidentStore

    start = scenario.start.timestamp() if scenario.start is not None else SystemClock().now()
    clock = StepClock(start)
    path = _fresh_database(data_dir / f"simulated-{scenario.name}.sqlite3")
    store = IncidentStore(path, clock)
    run = SimulatedRun(site, scenario, store, clock, simulated_engines(site, clock, data_dir),
                       coarse=scenario.coarse_step)
    log.info("simulated scenario %s: %s from %s, incidents in %s", scenario.name,
             _days(scenario.duration), _iso(start), path)
    began = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(duration):
            # The run is CPU-bound; a worker thread keeps Ctrl-C and the timer responsive.
            await asyncio.to_thread(run.run)
    except TimeoutError:
        log.warning("simulated scenario stopped by --duration before its end")
    elapsed = asyncio.get_running_loop().time() - began
    log.info("simulated %s in %.1f s (%d samples)", _days(scenario.duration), elapsed,
             run.samples)
    _print_incidents(store.list(limit=1000), as_json)
    store.close()
    return 0


def _fresh_database(path: Path) -> Path:
    """A fresh store per simulated run: its time may lie before earlier runs' incidents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 86400 else f"{seconds:.0f} s"


def _print_incidents(incidents: list[Any], as_json: bool) -> None:
    rows = [
        {
            "id": incident.id,
            "rule": incident.rule,
            "subject": incident.subject,
            "severity": str(incident.severity),
            "state": str(incident.state),
            "raised_at": _iso(incident.raised_at),
            "cleared_at": _iso(incident.cleared_at),
            "count": incident.count,
            "message": incident.message,
        }
        for incident in sorted(incidents, key=lambda item: item.raised_at)
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        print("no incidents raised")
        return
    print(f"{len(rows)} incident(s) raised:")
    for row in rows:
        print(f"  #{row['id']:<4} {row['raised_at']}  {row['severity']:<8} {row['rule']:<14} "
              f"{row['subject']:<40} {row['state']}")
