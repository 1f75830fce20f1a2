"""What each `fireroom` command runs: one TaskGroup per process, stopped by a signal or a timer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fireroom.clock import Clock, SimulatedClock, SystemClock
from fireroom.config import MqttConfig, Site

if TYPE_CHECKING:
    from gateway.influx.settings import InfluxSettings
    from services.incidents.models import Incident

__all__ = ["api", "demo", "gateway", "list_scenarios", "rules", "simulate"]

log = logging.getLogger("fireroom")
DATABASE = "fireroom.sqlite3"
READINGS_BUFFER = "influx-readings.sqlite3"
INCIDENTS_BUFFER = "influx-incidents.sqlite3"
Metrics = tuple[int | None, str]  # port (None: no endpoint) and host


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


USERS = "users.sqlite3"
DUTY = "duty.sqlite3"
DEMO_USERS = (
    ("operator1", "operator"),
    ("operator2", "operator"),
    ("engineer1", "engineer"),
    ("supervisor1", "supervisor"),
    ("admin", "admin"),
)


def _open_users(data_dir: Path, clock: Clock) -> Any:
    from services.auth import UserStore

    data_dir.mkdir(parents=True, exist_ok=True)
    return UserStore(data_dir / USERS, clock)


def _demo_users(users: Any) -> None:
    """The demo's well-known accounts; only `fireroom demo` ever creates a default password."""
    from services.auth import DuplicateUser, Role

    for username, role in DEMO_USERS:
        try:
            users.add(username, "demo", Role(role))
        except DuplicateUser:
            continue
    log.warning(
        "demo accounts %s have the password 'demo': never use this data directory for a real"
        " control room", ", ".join(name for name, _ in DEMO_USERS),
    )


def _duty_service(
    site: Site, data_dir: Path, store: Any, register: Any, clock: Clock
) -> Any:
    from zoneinfo import ZoneInfo

    from services.duty import DutyService, DutyStore

    return DutyService(
        site=site.id, zone=ZoneInfo(site.config.site.timezone), shifts=site.config.shifts,
        duty=DutyStore(data_dir / DUTY, created_at=clock.now()), incidents=store, clock=clock,
        register=register,
    )


def _influx_sink(
    site: Site, influx: InfluxSettings | None, data_dir: Path, clock: Clock | None = None
) -> Any:
    """The gateway's InfluxDB sink, buffering in `data_dir`; None when InfluxDB is off."""
    if influx is None:
        return None
    from gateway.influx import InfluxSink

    log.info("readings to InfluxDB at %s, buffered in %s", influx.describe(),
             data_dir / READINGS_BUFFER)
    return InfluxSink(site, influx.writer(data_dir / READINGS_BUFFER, name="readings", clock=clock))


def _incident_writer(
    influx: InfluxSettings | None, data_dir: Path, clock: Clock | None = None
) -> Any:
    """Incident events to InfluxDB, with their own buffer; None when InfluxDB is off."""
    if influx is None:
        return None
    from services.incidents.influx import IncidentWriter

    log.info("incident events to InfluxDB at %s, buffered in %s", influx.describe(),
             data_dir / INCIDENTS_BUFFER)
    writer = influx.writer(data_dir / INCIDENTS_BUFFER, name="incidents", clock=clock)
    return IncidentWriter(writer, clock=clock)


async def gateway(
    site: Site,
    *,
    data_dir: Path | None = None,
    influx: InfluxSettings | None = None,
    metrics: Metrics = (None, "127.0.0.1"),
) -> int:
    from gateway.service import Gateway

    sink = _influx_sink(site, influx, data_dir or Path("data"))
    service = Gateway(site, _mqtt(site), sink=sink, metrics_port=metrics[0],
                      metrics_host=metrics[1])
    log.info("gateway for site %s: %d devices", site.id, len(site.config.devices))
    await _run_until_stopped({f"gateway[{site.id}]": service.run})
    return 0


async def rules(
    site: Site,
    data_dir: Path,
    *,
    influx: InfluxSettings | None = None,
    metrics: Metrics = (None, "127.0.0.1"),
) -> int:
    from gateway.metrics import MetricsServer
    from services.compliance import open_engine
    from services.rules.service import RulesService

    store = _open_store(data_dir)
    incidents = _incident_writer(influx, data_dir)
    service = RulesService(site, _mqtt(site), store, incident_writer=incidents,
                           compliance=open_engine(site, data_dir, SystemClock()))
    log.info("rules for site %s, incidents in %s", site.id, data_dir / DATABASE)
    jobs: dict[str, Callable[[], Awaitable[Any]]] = {f"rules[{site.id}]": service.run}
    if incidents is not None:
        jobs[f"rules[{site.id}].influx"] = incidents.run
    if metrics[0] is not None:
        server = MetricsServer(metrics[0], host=metrics[1],
                               collectors=[incidents.metrics] if incidents else [])
        jobs[f"rules[{site.id}].metrics"] = server.serve
    await _run_until_stopped(jobs)
    return 0


OUTBOX = "notify-outbox.sqlite3"


def _notifier(site: Site, mqtt: MqttConfig, store: Any, data_dir: Path, clock: Clock) -> Any:
    """The alert service, or None when the site routes no alerts."""
    if not site.config.notifications.routes:
        return None
    from services.notify.service import NotifyService

    log.info("alerts to engineers: %d route(s), outbox in %s",
             len(site.config.notifications.routes), data_dir / OUTBOX)
    return NotifyService(site, mqtt, store, outbox_path=data_dir / OUTBOX, clock=clock)


async def notify(site: Site, data_dir: Path) -> int:
    store = _open_store(data_dir)
    notifier = _notifier(site, _mqtt(site), store, data_dir, SystemClock())
    if notifier is None:
        log.error("site %s has no notification routes: nothing to send", site.id)
        return 2
    await _run_until_stopped({f"notify[{site.id}]": notifier.run})
    return 0


def _api_monitor(site: Site, mqtt: MqttConfig) -> Any:
    """The API's watch on the rules service and the broker, and its wake-up for the console."""
    from services.api.changes import Changes
    from services.api.monitor import Monitor

    return Monitor(site.id, mqtt, site.config.monitoring, changes=Changes())


async def api(site: Site | None, data_dir: Path, host: str, port: int) -> int:
    from services.api import serve_api
    from services.compliance import open_register

    store = _open_store(data_dir)
    # Without a site config the API serves incidents only; obligations need the config.
    register = open_register(site, data_dir, SystemClock()) if site is not None else None
    log.info("API on http://%s:%d/api/v1 (docs at /docs), incidents in %s", host, port,
             data_dir / DATABASE)
    users = _open_users(data_dir, SystemClock())
    # The duty service runs here, with the operators: shifts and handovers need the config.
    duty = None if site is None else _duty_service(
        site, data_dir, store, register, SystemClock()
    )
    jobs: dict[str, Callable[[], Awaitable[Any]]] = {
        "api": lambda: serve_api(
            store, host=host, port=port, compliance=register, users=users, duty=duty,
            monitor=None if site is None else _api_monitor(site, _mqtt(site)), site=site,
        )
    }
    if duty is not None:
        jobs[f"duty[{site.id if site else ''}]"] = duty.run
    await _run_until_stopped(jobs)
    return 0


def _scenario(name: str | None) -> Any:
    if name is None:
        return None
    from simulators.scenario import load_scenario

    return load_scenario(name)


async def simulate(
    site: Site,
    scenario: str | None,
    duration: float | None,
    *,
    serial_ports: Mapping[str, str] | None = None,
) -> int:
    """Serve the site's devices; `serial_ports` serves those serial lines on other ports."""
    from simulators.runtime import SiteSimulator

    async with SiteSimulator(site, scenario=_scenario(scenario), serial_ports=serial_ports,
                             mqtt=_mqtt(site)):
        log.info("simulating site %s%s", site.id, f", scenario {scenario}" if scenario else "")
        await _run_until_stopped({}, duration)
    return 0


def list_scenarios() -> int:
    from simulators.scenario import load_scenario, scenario_names

    for name in scenario_names():
        print(f"{name:<22} {load_scenario(name).description}")
    return 0


async def demo(
    site: Site,
    *,
    scenario: str | None,
    duration: float | None,
    as_json: bool,
    data_dir: Path,
    api_port: int,
    mqtt_port: int,
    influx: InfluxSettings | None = None,
    metrics: Metrics = (None, "127.0.0.1"),
) -> int:
    from fireroom.broker import embedded_broker
    from gateway.service import Gateway
    from services.api import serve_api
    from services.compliance import open_engine, open_register
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
    incidents = _incident_writer(influx, data_dir, clock)
    rules_service = RulesService(site, mqtt, store, clock=clock, incident_writer=incidents,
                                 compliance=open_engine(site, data_dir, clock))
    register = open_register(site, data_dir, clock)
    users = _open_users(data_dir, clock)
    _demo_users(users)
    duty = _duty_service(site, data_dir, store, register, clock)
    gateway_service = Gateway(
        site, mqtt, clock=clock, sink=_influx_sink(site, influx, data_dir, clock),
        metrics_port=metrics[0], metrics_host=metrics[1],
    )
    jobs: dict[str, Callable[[], Awaitable[Any]]] = {
        "rules": rules_service.run,
        "gateway": gateway_service.run,
        "api": lambda: serve_api(store, host="127.0.0.1", port=api_port, compliance=register,
                                 users=users, duty=duty, monitor=_api_monitor(site, mqtt),
                                 site=site),
        "duty": duty.run,
    }
    notifier = _notifier(site, mqtt, store, data_dir, clock)
    if notifier is not None:
        jobs["notify"] = notifier.run
    if incidents is not None:
        jobs["incidents.influx"] = incidents.run
        if gateway_service.metrics is not None:
            gateway_service.metrics.add(incidents.metrics)
    async with (
        embedded_broker(port=mqtt_port),
        SiteSimulator(site, scenario=played, clock=clock, mqtt=mqtt),
    ):
        await _run_until_stopped(jobs, duration)
    incidents = [
        incident for incident in store.list(limit=1000)
        if max(incident.raised_at, incident.last_triggered_at or 0) >= started
    ]
    _print_incidents(incidents, as_json)
    return 0


def simulated_engines(
    site: Site, scenario: Any, clock: Any, records_path: Path
) -> tuple[list[Any], Any]:
    """The engines a simulated scenario feeds, the same the rules service runs, and the
    compliance record store they write evidence to."""
    from services.compliance.engine import ComplianceEngine
    from services.compliance.records import RecordStore
    from services.compliance.register import site_obligations
    from services.rules.engine import RulesEngine

    obligations = site_obligations(site)
    if scenario.obligations is not None:
        obligations = [item for item in obligations if item.id in scenario.obligations]
    records = RecordStore(records_path, clock)
    return [RulesEngine(site, clock), ComplianceEngine(site, obligations, clock, records)], records


async def _demo_simulated(
    site: Site, scenario: Any, *, data_dir: Path, as_json: bool, duration: float | None
) -> int:
    """A scenario on a simulated clock: no servers, the whole timeline as fast as it goes."""
    from fireroom.simrun import SimulatedRun
    from services.incidents.models import iso_time
    from services.incidents.store import IncidentStore

    start = scenario.start.timestamp() if scenario.start is not None else SystemClock().now()
    clock = SimulatedClock(start)
    path = _fresh_database(data_dir / f"simulated-{scenario.name}.sqlite3")
    store = IncidentStore(path, clock)
    records_path = _fresh_database(data_dir / f"simulated-{scenario.name}-records.sqlite3")
    engines, records = simulated_engines(site, scenario, clock, records_path)
    run = SimulatedRun(site, scenario, store, clock, engines, coarse=scenario.coarse_step)
    log.info("simulated scenario %s: %s from %s, incidents in %s", scenario.name,
             _days(scenario.duration), iso_time(start), path)
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
    log.info("test evidence recorded: %d record(s) in %s", records.count(), records_path)
    _print_incidents(store.list(limit=1000), as_json)
    store.close()
    records.close()
    return 0


def _fresh_database(path: Path) -> Path:
    """A fresh store per simulated run: its time may lie before earlier runs' incidents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 86400 else f"{seconds:.0f} s"


def _print_incidents(incidents: list[Incident], as_json: bool) -> None:
    # The same JSON as the API and the incidents topic give for an incident.
    rows = [incident.to_dict() for incident in sorted(incidents, key=lambda item: item.raised_at)]
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
