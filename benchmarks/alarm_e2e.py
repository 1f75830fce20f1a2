"""Fire alarm end to end: panel register change → webhook, and → the console's SSE stream.

    python -m benchmarks.alarm_e2e --alarms 50 --poll 1                 # both lanes
    python -m benchmarks.alarm_e2e --lanes fast --fast-interval 0.25

The example site runs in this process as `fireroom demo` runs it (simulators, gateway, rules,
notifier and API on one event loop, so they share one core) against a real Mosquitto. Each alarm
puts a different detector of `facp-1` into fire at a random moment; two clocks stop for it:
(a) the first fire alarm webhook of the panel (that detector, or the panel's system word)
reaching a loopback HTTP receiver (the notifier's `webhook` channel, routed for critical
incidents) and (b) the first `raised` fire alarm of the panel arriving on an SSE client of
GET /api/v1/events, which is what the console's board listens to. Alarms are put one at a time
and taken back before the next, so each first arrival belongs to its alarm.

Two lanes are measured, one after the other on fresh processes: `slow`, every point of the site
polled every `--poll` s, and `fast`, the same with the panel's alarm points (its system word and
detectors, `--fast-points`) in a fast lane read every `--fast-interval` s. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from benchmarks.webhook import WebhookReceiver
from fireroom.clock import SystemClock
from fireroom.config import load_site
from gateway import Gateway
from services.api.changes import Changes
from services.api.monitor import Monitor
from services.incidents import IncidentStore
from services.notify import NotifyService
from services.rules.service import RulesService
from simulators import SiteSimulator
from tests.console.api import PASSWORD, running_api
from tests.servers import free_port, run_mosquitto

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "site.yaml"


PANEL = "facp-1"


class Arrivals:
    """When fire alarms of the panel reached a receiver, in order."""

    def __init__(self) -> None:
        self.at: list[tuple[float, str]] = []  # (perf_counter, subject)

    def seen(self, event: dict[str, Any]) -> None:
        incident = event.get("incident")
        if (
            isinstance(incident, dict)
            and event.get("event") == "raised"
            and incident.get("rule") == "fire_alarm"
        ):
            self.at.append((time.perf_counter(), str(incident.get("subject"))))

    def first(self, after: float) -> float | None:
        return next((at for at, _ in self.at if at >= after), None)


async def _sse_client(base: str, arrivals: Arrivals, ready: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=None) as client:
        login = await client.post("/api/v1/auth/login",
                                  json={"username": "operator1", "password": PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        async with client.stream("GET", "/api/v1/events", headers=headers) as response:
            response.raise_for_status()
            ready.set()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    arrivals.seen(orjson.loads(line[6:]))


def _site(root: Path, broker_port: int, hook_port: int, args: argparse.Namespace,
          fast: bool) -> Path:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["mqtt"] = {"host": "127.0.0.1", "port": broker_port}
    data["data_dir"] = str(root / "data")
    for device in data["devices"]:
        device["transport"]["port"] = free_port()
        device["poll_interval"] = args.poll
        if fast and device["id"] == PANEL:
            device["fast_lane"] = {"points": args.fast_points, "interval": args.fast_interval}
    data["notifications"] = {
        "channels": [{"id": "hook", "type": "webhook", "url": f"http://127.0.0.1:{hook_port}/"}],
        "routes": [{"match": {"severity": ["critical"]}, "channels": ["hook"],
                    "events": ["raised"]}],
    }
    path = root / "site.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _stats(latencies: list[float]) -> dict[str, float | int | None]:
    if not latencies:
        return {"n": 0, "p50_s": None, "p99_s": None, "max_s": None}
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50_s": round(statistics.median(ordered), 3),
            "p99_s": round(p99, 3), "max_s": round(ordered[-1], 3)}


async def _lane(args: argparse.Namespace, fast: bool) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp, run_mosquitto(Path(tmp) / "mosquitto") as broker:
        root = Path(tmp)
        hook_port = free_port()
        site = load_site(_site(root, broker.port, hook_port, args, fast))
        points = [p.name for p in site.points[PANEL] if p.name.startswith("L")]
        if len(points) < args.alarms:
            raise SystemExit(f"{PANEL} has {len(points)} detector points, fewer than --alarms")
        chosen = rng.sample(points, args.alarms)
        clock = SystemClock()
        store = IncidentStore(root / "incidents.sqlite3", clock)
        hooks, board = Arrivals(), Arrivals()
        receiver = WebhookReceiver(hooks.seen)
        await receiver.serve(hook_port)
        notify = NotifyService(site, site.config.mqtt, store,
                               outbox_path=root / "outbox.sqlite3", clock=clock)
        services = {
            "rules": RulesService(site, site.config.mqtt, store, clock=clock).run,
            "gateway": Gateway(site, site.config.mqtt, clock=clock).run,
            "notify": notify.run,
        }
        changed_at: dict[str, float] = {}
        to_hook: list[float] = []
        to_board: list[float] = []
        async with (
            SiteSimulator(site, clock=clock) as sim,
            # The API hears incident changes on MQTT as `fireroom api` does: they wake the board.
            running_api(store, root, site, monitor=Monitor(
                site.id, site.config.mqtt, site.config.monitoring, changes=Changes()
            )) as base,
            asyncio.TaskGroup() as group,
        ):
            tasks = [group.create_task(job(), name=name) for name, job in services.items()]
            ready = asyncio.Event()
            tasks.append(group.create_task(_sse_client(base, board, ready), name="sse"))
            async with asyncio.timeout(30):
                await ready.wait()
            await asyncio.sleep(args.warmup)
            panel = sim.model.panel(PANEL)
            for point in chosen:
                # Random spacing: alarms land anywhere in the poll cycle, not in step with it.
                await asyncio.sleep(rng.uniform(args.min_gap, args.max_gap))
                start = changed_at[point] = time.perf_counter()
                panel.set_point_state(point, "fire")
                deadline = start + args.settle
                while time.perf_counter() < deadline and (
                    hooks.first(start) is None or board.first(start) is None
                ):
                    await asyncio.sleep(0.01)
                for arrivals, latencies in ((hooks, to_hook), (board, to_board)):
                    if (at := arrivals.first(start)) is not None:
                        latencies.append(at - start)
                panel.set_point_state(point, "normal")
                # The system word's fire must drop before the next alarm, or it would not rise.
                await asyncio.sleep(args.clear)
            for task in tasks:
                task.cancel()
        await receiver.close()
        store.close()
    lane = {"lane": "fast" if fast else "slow", "poll_s": args.poll,
            "webhook": _stats(to_hook), "sse_board": _stats(to_board),
            "missed": {"webhook": len(chosen) - len(to_hook),
                       "sse_board": len(chosen) - len(to_board)}}
    if fast:
        lane["fast_lane"] = {"points": args.fast_points, "interval_s": args.fast_interval}
    return lane


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "benchmark": "alarm_e2e",
        "alarms": args.alarms,
        "gap_s": [args.min_gap, args.max_gap],
        "lanes": [await _lane(args, lane == "fast") for lane in args.lanes],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alarms", type=int, default=50)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--min-gap", type=float, default=0.3)
    parser.add_argument("--max-gap", type=float, default=1.7)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds to wait for an alarm's arrivals")
    parser.add_argument("--clear", type=float, default=2.5,
                        help="seconds after taking an alarm back before the next")
    parser.add_argument("--lanes", type=lambda text: text.split(","), default=["slow", "fast"])
    parser.add_argument("--fast-points", type=lambda text: text.split(","),
                        default=["system_status"], help="the fast lane's points")
    parser.add_argument("--fast-interval", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args))))


if __name__ == "__main__":
    main()
