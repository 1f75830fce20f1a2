"""Pipeline benchmark: simulated panels → gateway → Mosquitto → rules, on real parts.

    python -m benchmarks.pipeline --devices 20 --points 1000 --poll 1 --seconds 30

Simulators run in this process; the gateway and the rules service run as their own processes
(`fireroom gateway`, `fireroom rules`) so their CPU time and memory are measured apart. During the
window a random detector goes to fire every `--alarm-every` seconds; the latency is from the
register change in the simulator to the incident event arriving on MQTT. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import yaml

from fireroom import topics
from fireroom.config import load_site
from simulators import SiteSimulator
from tests.servers import free_port, run_mosquitto, wait_for_port

TICKS = os.sysconf("SC_CLK_TCK")


def _site_yaml(devices: int, points: int, poll: float, broker_port: int, data: Path) -> str:
    config: dict[str, Any] = {
        "site": {"id": "bench", "name": "pipeline benchmark"},
        "mqtt": {"host": "127.0.0.1", "port": broker_port},
        "data_dir": str(data),
        "devices": [
            {
                "id": f"panel-{d:03d}",
                "profile": "gbt26875-panel",
                "transport": {"type": "tcp", "host": "127.0.0.1", "port": free_port()},
                "poll_interval": poll,
                "timeout": 1.0,
                "points": [{"name": f"P{i:04d}", "index": i} for i in range(points)],
            }
            for d in range(devices)
        ],
    }
    return yaml.safe_dump(config)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Counter:
    def __init__(self) -> None:
        self.points = 0
        self.messages = 0
        self.incident_seen: dict[str, float] = {}
        self.pending: dict[str, set[str]] = {}  # device -> points set to fire, not yet seen
        self.telemetry_seen: dict[str, float] = {}


async def _listen(broker_port: int, counter: Counter, ready: asyncio.Event) -> None:
    async with aiomqtt.Client("127.0.0.1", broker_port, max_queued_incoming_messages=0) as client:
        await client.subscribe(topics.telemetry_filter("bench"))
        await client.subscribe(topics.incidents("bench"), qos=1)
        ready.set()
        async for message in client.messages:
            payload = message.payload
            assert isinstance(payload, bytes)
            if message.topic.matches(topics.incidents("bench")):
                change = orjson.loads(payload)
                incident = change["incident"]
                if change["event"] == "raised" and incident["rule"] == "fire_alarm":
                    counter.incident_seen.setdefault(incident["subject"], time.time())
                continue
            counter.messages += 1
            scan = orjson.loads(payload)
            counter.points += len(scan["readings"])
            waiting = counter.pending.get(scan["device"])
            if waiting:
                for point in list(waiting):
                    if "fire" in (scan["readings"][point][0] or ()):
                        waiting.discard(point)
                        subject = f"bench/{scan['device']}/{point}"
                        counter.telemetry_seen[subject] = time.time()


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fireroom-bench-") as tmp:
        root = Path(tmp)
        with run_mosquitto(root / "mosquitto") as broker:
            config = root / "site.yaml"
            config.write_text(
                _site_yaml(args.devices, args.points, args.poll, broker.port, root / "data")
            )
            site = load_site(config)
            fireroom = [sys.executable, "-m", "fireroom.cli"]
            log = (root / "processes.log").open("w")
            async with SiteSimulator(site) as sim:
                for device in site.config.devices:
                    wait_for_port("127.0.0.1", device.transport.port)
                counter = Counter()
                ready = asyncio.Event()
                listener = asyncio.create_task(_listen(broker.port, counter, ready))
                await ready.wait()
                rules = subprocess.Popen(  # noqa: ASYNC220
                    [*fireroom, "rules", "--config", str(config)], stdout=log, stderr=log
                )
                gateway = subprocess.Popen(  # noqa: ASYNC220
                    [*fireroom, "gateway", "--config", str(config)], stdout=log, stderr=log
                )
                try:
                    await asyncio.sleep(args.warmup)
                    cpu0 = {p.pid: _cpu_seconds(p.pid) for p in (gateway, rules)}
                    points0, messages0, start = counter.points, counter.messages, time.time()
                    own0 = time.process_time()
                    changes: dict[str, float] = {}
                    rng = random.Random(1)
                    next_alarm = start + 1.0
                    while (now := time.time()) < start + args.seconds:
                        if now >= next_alarm:
                            device = rng.choice(site.config.devices).id
                            point = f"P{rng.randrange(args.points):04d}"
                            subject = f"bench/{device}/{point}"
                            if subject not in changes:
                                changes[subject] = time.time()
                                sim.model.panel(device).set_point_state(point, "fire")
                                counter.pending.setdefault(device, set()).add(point)
                            # Random spacing, so alarms do not lock onto the poll's phase.
                            next_alarm += args.alarm_every * rng.uniform(0.5, 1.5)
                        await asyncio.sleep(0.05)
                    elapsed = time.time() - start
                    points = counter.points - points0
                    messages = counter.messages - messages0
                    cpu = {p.pid: _cpu_seconds(p.pid) - cpu0[p.pid] for p in (gateway, rules)}
                    own = time.process_time() - own0
                    await asyncio.sleep(2 * args.poll + 1)  # the last alarms' incidents
                    rss = {p.pid: _peak_rss_mib(p.pid) for p in (gateway, rules)}
                finally:
                    for process in (gateway, rules):
                        process.terminate()
                    for process in (gateway, rules):
                        process.wait(timeout=10)
                    listener.cancel()
                    log.close()
    latencies = [
        counter.incident_seen[subject] - changed
        for subject, changed in changes.items()
        if subject in counter.incident_seen
    ]
    on_mqtt = [
        counter.telemetry_seen[subject] - changed
        for subject, changed in changes.items()
        if subject in counter.telemetry_seen
    ]
    million = points / 1e6
    return {
        "benchmark": "pipeline",
        "devices": args.devices,
        "points_per_device": args.points,
        "poll_s": args.poll,
        "window_s": round(elapsed, 1),
        "messages": messages,
        "points": points,
        "points_per_s": round(points / elapsed),
        "gateway_cpu_s": round(cpu[gateway.pid], 2),
        "rules_cpu_s": round(cpu[rules.pid], 2),
        "gateway_cpu_s_per_million_points": round(cpu[gateway.pid] / million, 2),
        "rules_cpu_s_per_million_points": round(cpu[rules.pid] / million, 2),
        "simulators_and_listener_cpu_s": round(own, 2),
        "gateway_peak_rss_mib": round(rss[gateway.pid], 1),
        "rules_peak_rss_mib": round(rss[rules.pid], 1),
        "alarms": len(changes),
        "alarms_missed": len(changes) - len(latencies),
        "alarm_to_incident_p50_ms": round(statistics.median(latencies) * 1000) if latencies
        else None,
        "alarm_to_incident_p99_ms": round(_percentile(latencies, 0.99) * 1000) if latencies
        else None,
        "alarm_to_telemetry_p50_ms": round(statistics.median(on_mqtt) * 1000) if on_mqtt
        else None,
        "alarm_to_telemetry_p99_ms": round(_percentile(on_mqtt, 0.99) * 1000) if on_mqtt
        else None,
        "alarm_to_incident_max_ms": round(max(latencies) * 1000) if latencies else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--alarm-every", type=float, default=0.5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args))))


if __name__ == "__main__":
    main()
