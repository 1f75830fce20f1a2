"""Fault injection: break the real monitoring chain, count the fire alarms that get through.

    python -m benchmarks.chaos            # every fault
    python -m benchmarks.chaos --quick    # shorter faults, under 10 minutes on 2 cores
    python -m benchmarks.chaos --faults panel_exception_11,kill_rules

Real processes: Mosquitto, `fireroom gateway`, `rules`, `notify` and `api`, InfluxDB when it is
installed; the pymodbus simulators, a hostile Modbus proxy in front of the panel, an MQTT proxy
that can drop telemetry on its way to the rules service, and a webhook receiver run in this
process. For each fault a fire is put on a different detector of the panel before, during and
after it. An alarm counts as raised when its `fire_alarm` incident is in the store within 10 s
of the fire, or, for a fault that blinds the panel or the store, within 10 s of the fault ending;
such a fault must also have raised its own incident (comm_loss or monitoring_degraded) while it
lasted. Duplicated: more than one incident for one fire, or an alert sent twice for one
activation. Prints a table, then as its last line:

    chaos: F faults, N alarms injected, R raised, L lost, D duplicated
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.chaos.mqtt_drop import MqttDropProxy
from benchmarks.chaos.observe import Hooks, Incidents
from benchmarks.chaos.processes import FAKETIME_LIB, Fireroom, Mosquitto
from benchmarks.chaos.site import PANEL, ChaosSite, build_site
from benchmarks.webhook import WebhookReceiver
from simulators import SiteSimulator
from simulators.hostile import HostileProxy
from tests.servers import HttpServer, free_port, run_influxdb

LIMIT = 10.0  # GB 25506: a fire alarm reaches the monitoring centre within 10 s
SLACK = 5.0  # looked for this much longer, so a late alarm is measured, not just missed
EVIDENCE = frozenset({"comm_loss", "monitoring_degraded"})


@dataclass(slots=True)
class Fault:
    name: str
    seconds: float
    start: Callable[[], Awaitable[None]]
    end: Callable[[], Awaitable[None]]
    blinds: bool = False  # hides the panel: must raise its own incident meanwhile
    delays: bool = False  # an alarm during it is due 10 s after it ends


@dataclass(slots=True)
class Alarm:
    point: str
    phase: str  # before, during, after
    injected: float
    due_from: float  # the 10 s run from here
    raised: float | None = None
    hooked: float | None = None

    @property
    def in_time(self) -> bool:
        return self.raised is not None and self.raised - self.due_from <= LIMIT


@dataclass(slots=True)
class Outcome:
    fault: str
    alarms: list[Alarm] = field(default_factory=list)
    evidence: bool | None = None  # None: the fault need not raise one
    duplicated: int = 0


class Campaign:
    def __init__(self, chaos: ChaosSite, args: argparse.Namespace, root: Path) -> None:
        self.chaos = chaos
        self.args = args
        self.root = root
        self.mosquitto = Mosquitto(root / "mosquitto", chaos.broker_port)
        self.fireroom = Fireroom(root, chaos.config)
        self.incidents = Incidents(root / "data" / "fireroom.sqlite3")
        self.hooks = Hooks()
        self.points = [p.name for p in chaos.site.points[PANEL] if p.name.startswith("L")]
        self.proxy = HostileProxy(upstream_port=chaos.panel_port, port=chaos.proxy_port,
                                  name="chaos[facp-1]")
        self.drop = MqttDropProxy(upstream_port=chaos.broker_port, port=chaos.rules_broker_port)
        self.influx: contextlib.AbstractContextManager[HttpServer] | None = None
        self.influx_port = free_port()
        self.sim: SiteSimulator | None = None

    # The parts.

    def _influx_start(self) -> str | None:
        if shutil.which("influxd") is None:
            return None
        self.influx = run_influxdb(self.root / "influx", self.influx_port)
        server = self.influx.__enter__()
        httpx.post(f"{server.url}/query", params={"q": "CREATE DATABASE fireroom"}, timeout=10)
        return server.url

    def _influx_stop(self) -> None:
        if self.influx is not None:
            self.influx.__exit__(None, None, None)
            self.influx = None

    def _processes(self, influx_url: str | None) -> None:
        config = str(self.chaos.config)
        gateway = ["gateway", "--config", config]
        if influx_url is not None:
            gateway += ["--influx-url", influx_url, "--influx-api", "v1",
                        "--influx-database", "fireroom"]
        self.fireroom.add("gateway", gateway)
        # The rules service hears the broker through the proxy that can drop its telemetry.
        self.fireroom.add("rules", ["rules", "--config", config], env={
            "FIREROOM_MQTT_URL": f"mqtt://127.0.0.1:{self.chaos.rules_broker_port}"})
        self.fireroom.add("notify", ["notify", "--config", config])
        self.fireroom.add("api", ["api", "--config", config, "--port", str(self.chaos.api_port)])

    def faults(self) -> list[Fault]:
        quick = self.args.quick
        panel = 6.0 if quick else 12.0
        fireroom, proxy = self.fireroom, self.proxy

        def kill(name: str) -> Callable[[], Awaitable[None]]:
            async def go() -> None:
                fireroom.kill(name)
            return go

        def restart(name: str) -> Callable[[], Awaitable[None]]:
            async def go() -> None:
                fireroom.start(name)
            return go

        def behave(mode: str, **options: Any) -> Callable[[], Awaitable[None]]:
            async def go() -> None:
                proxy.behave(mode, **options)  # type: ignore[arg-type]
            return go

        async def broker_stop() -> None:
            await asyncio.to_thread(self.mosquitto.stop)

        async def broker_start() -> None:
            await asyncio.to_thread(self.mosquitto.start)

        lock = _Locker(self.root / "data" / "fireroom.sqlite3")

        async def lock_store() -> None:
            await asyncio.to_thread(lock.hold)

        async def unlock_store() -> None:
            await asyncio.to_thread(lock.release)

        def dropping(share: float) -> Callable[[], Awaitable[None]]:
            async def go() -> None:
                self.drop.dropping = share
            return go

        def clock(offset: float) -> Callable[[], Awaitable[None]]:
            async def go() -> None:
                fireroom.jump_clock(offset)
            return go

        async def influx_stop() -> None:
            await asyncio.to_thread(self._influx_stop)

        async def influx_start() -> None:
            await asyncio.to_thread(self._influx_start)

        normal = behave("normal")
        faults = [
            Fault("broker_restart", 1.0, broker_stop, broker_start, delays=True),
            Fault("broker_down_30s", 30.0, broker_stop, broker_start, blinds=True),
            Fault("kill_rules", 3.0 if quick else 6.0, kill("rules"), restart("rules"),
                  delays=True),
            Fault("kill_gateway", 6.0 if quick else 10.0, kill("gateway"), restart("gateway"),
                  blinds=True),
            Fault("kill_notify", 3.0 if quick else 6.0, kill("notify"), restart("notify")),
            Fault("sqlite_unwritable", panel, lock_store, unlock_store, delays=True),
            Fault("panel_exception_4", panel, behave("exception", code=4), normal, blinds=True),
            Fault("panel_exception_6", panel, behave("exception", code=6), normal, blinds=True),
            Fault("panel_exception_11", panel, behave("exception", code=11), normal,
                  blinds=True),
            Fault("panel_silent", panel, behave("silent"), normal, blinds=True),
            Fault("hostile_garbage", panel, behave("garbage"), normal, blinds=True),
            Fault("hostile_short", panel, behave("short"), normal, blinds=True),
            Fault("hostile_wrong_tid", panel, behave("wrong_tid"), normal, blinds=True),
            Fault("telemetry_dropped", panel, dropping(0.5), dropping(0.0)),
        ]
        if shutil.which("influxd") is not None:
            faults.append(Fault("influx_down", panel, influx_stop, influx_start))
        if FAKETIME_LIB is not None:
            faults += [
                Fault("clock_forward_1h", panel, clock(3600), clock(0)),
                Fault("clock_back_1h", panel, clock(-3600), clock(0)),
            ]
        chosen = self.args.faults
        if chosen:
            known = {fault.name for fault in faults}
            unknown = sorted(set(chosen) - known)
            if unknown:
                raise SystemExit(f"chaos: unknown faults {unknown}; known: {sorted(known)}")
            faults = [fault for fault in faults if fault.name in chosen]
        return faults

    # One alarm, one fault.

    def _fire(self, point: str, state: str) -> None:
        assert self.sim is not None
        self.sim.model.panel(PANEL).set_point_state(point, state)

    async def _await_raise(self, alarm: Alarm, until: float) -> None:
        subject = f"{self.chaos.site.id}/{PANEL}/{alarm.point}"
        while time.monotonic() < until and (alarm.raised is None or alarm.hooked is None):
            if alarm.raised is None and (row := self.incidents.first(
                    "fire_alarm", subject, alarm.injected - 0.01)) is not None:
                alarm.raised = row.seen
            if alarm.hooked is None:
                alarm.hooked = self.hooks.first(subject, alarm.injected - 0.01)
            await asyncio.sleep(0.05)

    def _next_point(self) -> str:
        if not self.points:
            raise SystemExit("chaos: the panel has too few detectors for these faults")
        return self.points.pop(0)

    async def run_fault(self, fault: Fault) -> Outcome:
        outcome = Outcome(fault.name)
        print(f"chaos: {fault.name} ({fault.seconds:g} s)", flush=True)
        before = Alarm(self._next_point(), "before", time.monotonic(), time.monotonic())
        self._fire(before.point, "fire")
        await self._await_raise(before, before.injected + LIMIT + SLACK)
        started = time.monotonic()
        await fault.start()
        await asyncio.sleep(min(1.0, fault.seconds / 2))
        now = time.monotonic()
        during = Alarm(self._next_point(), "during", now, now)
        self._fire(during.point, "fire")
        await asyncio.sleep(max(fault.seconds - (time.monotonic() - started), 0))
        await fault.end()
        ended = time.monotonic()
        if fault.blinds or fault.delays:
            during.due_from = ended
        await self._await_raise(during, max(during.due_from, during.injected) + LIMIT + SLACK)
        if fault.blinds:
            outcome.evidence = bool(self.incidents.any_of(set(EVIDENCE), started, ended + 2))
        now = time.monotonic()
        after = Alarm(self._next_point(), "after", now, now)
        self._fire(after.point, "fire")
        await self._await_raise(after, after.injected + LIMIT + SLACK)
        for alarm in (before, during, after):
            self._fire(alarm.point, "normal")
        outcome.alarms = [before, during, after]
        await asyncio.sleep(self.args.settle)  # let the chain come back to rest
        return outcome

    async def run(self) -> list[Outcome]:
        self.mosquitto.start()
        influx_url = self._influx_start()
        self._processes(influx_url)
        outcomes: list[Outcome] = []
        receiver = WebhookReceiver(self.hooks.received)
        await receiver.serve(self.chaos.hook_port)
        try:
            async with (
                SiteSimulator(self.chaos.simulated) as sim,
                self.proxy,
                self.drop,
                asyncio.TaskGroup() as group,
            ):
                self.sim = sim
                watcher = group.create_task(self.incidents.run(), name="chaos.incidents")
                self.fireroom.start_all()
                await self._warm_up()
                for fault in self.faults():
                    outcomes.append(await self.run_fault(fault))
                    for name in self.fireroom.running:
                        if not self.fireroom.alive(name):
                            print(f"chaos: {name} exited; its log ends:\n"
                                  f"{self.fireroom.log_tail(name)}", flush=True)
                            self.fireroom.start(name)
                watcher.cancel()
        finally:
            await receiver.close()
            codes = self.fireroom.stop_all()
            self.mosquitto.stop()
            self._influx_stop()
        unclean = {name: code for name, code in codes.items() if code != 0}
        if unclean:
            print(f"chaos: processes that did not stop cleanly: {unclean}", flush=True)
        self._count_duplicates(outcomes)
        return outcomes

    async def _warm_up(self) -> None:
        """Give the chain time to start; a process that could not start ends the campaign."""
        deadline = time.monotonic() + self.args.warmup
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        dead = [name for name in self.fireroom.running if not self.fireroom.alive(name)]
        if dead:
            logs = "\n".join(f"{name}:\n{self.fireroom.log_tail(name)}" for name in dead)
            raise SystemExit(f"chaos: {', '.join(dead)} could not start:\n{logs}")

    def _count_duplicates(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            for alarm in outcome.alarms:
                subject = f"{self.chaos.site.id}/{PANEL}/{alarm.point}"
                rows = self.incidents.incidents("fire_alarm", subject)
                alerts = self.hooks.raised_alerts(subject)
                outcome.duplicated += max(rows - 1, 0) + len(alerts) - len(set(alerts))


class _Locker:
    """Holds the incident database locked (BEGIN EXCLUSIVE) from another connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def hold(self) -> None:
        with self._lock:
            self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.execute("ROLLBACK")
                self._db.close()
                self._db = None


def _since(at: float | None, start: float) -> float | None:
    return None if at is None else round(at - start, 3)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(outcomes: list[Outcome]) -> tuple[str, dict[str, Any]]:
    lines = [
        "| fault | injected | raised | lost | duplicated | max s to raise | max s to webhook "
        "| own incident |",
        "|---|---|---|---|---|---|---|---|",
    ]
    totals = {"faults": len(outcomes), "injected": 0, "raised": 0, "lost": 0, "duplicated": 0}
    rows = []
    for outcome in outcomes:
        raised = [a for a in outcome.alarms if a.in_time]
        to_raise = [a.raised - a.due_from for a in outcome.alarms if a.raised is not None]
        to_hook = [a.hooked - a.due_from for a in outcome.alarms if a.hooked is not None]
        lost = len(outcome.alarms) - len(raised)
        evidence = {None: "n/a", True: "yes", False: "NO"}[outcome.evidence]
        lines.append(
            f"| {outcome.fault} | {len(outcome.alarms)} | {len(raised)} | {lost} | "
            f"{outcome.duplicated} | {_seconds(max(to_raise, default=None))} | "
            f"{_seconds(max(to_hook, default=None))} | {evidence} |"
        )
        totals["injected"] += len(outcome.alarms)
        totals["raised"] += len(raised)
        totals["lost"] += lost
        totals["duplicated"] += outcome.duplicated
        rows.append({
            "fault": outcome.fault, "evidence": outcome.evidence,
            "duplicated": outcome.duplicated,
            "alarms": [{"point": a.point, "phase": a.phase,
                        "to_raise_s": _since(a.raised, a.due_from),
                        "to_webhook_s": _since(a.hooked, a.due_from)}
                       for a in outcome.alarms],
        })
    return "\n".join(lines), {"totals": totals, "faults": rows}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter faults (< 10 min)")
    parser.add_argument("--faults", type=lambda text: [f for f in text.split(",") if f],
                        default=[], help="comma-separated fault names (default: all)")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds before the first fault")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between faults")
    parser.add_argument("--gone-after", type=float, default=10.0,
                        help="the site's monitoring.gone_after_seconds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    return parser.parse_args()


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    if keep:
        path = Path(tempfile.mkdtemp(prefix="fireroom-chaos-"))
        print(f"chaos: working in {path}", flush=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="fireroom-chaos-") as tmp:
        yield Path(tmp)


def main() -> None:
    args = _parse()
    started = time.monotonic()
    with _workdir(args.keep) as root:
        chaos = build_site(root, gone_after=args.gone_after)
        outcomes = asyncio.run(Campaign(chaos, args, root).run())
    table, results = report(outcomes)
    totals = results["totals"]
    failed = [o.fault for o in outcomes if o.evidence is False]
    print(table)
    print(f"chaos: {time.monotonic() - started:.0f} s; faults that raised no incident of their "
          f"own: {', '.join(failed) or 'none'}; clock faults "
          f"{'run' if FAKETIME_LIB else 'left out (install faketime)'}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"chaos: {totals['faults']} faults, {totals['injected']} alarms injected, "
          f"{totals['raised']} raised, {totals['lost']} lost, {totals['duplicated']} duplicated")
    if totals["lost"] or totals["duplicated"] or failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
