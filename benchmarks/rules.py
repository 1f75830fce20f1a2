"""Rules engine benchmark: the full rule catalogue over a city portfolio, on one core.

    python -m benchmarks.rules              # 250 sites x ~2,000 points, 20 s measured
    python -m benchmarks.rules --quick      # 10 sites, 3 s

Each site has two fire alarm panels (970 points each), a fire pump and a jockey pump controller
and a 4-20 mA module with two pressures, a tank level and a tank temperature: one RulesEngine per
site, as the rules service runs them. Telemetry messages are built beforehand, so only the pure
engine is timed: every round evaluates one scan of every device of every site, with the pressures
moving, the jockey pump cycling, a few points steadily disabled or in fault, and one detector of
a random site going to fire (and back) each round. The fire's latency is from the call that
evaluates its scan to the Raise it returns. A shorter second phase is a fault storm: 2 % of every
panel's detectors flip between fault and normal each round, so incidents are raised and cleared
by the thousand.

Figures: samples (readings) per second; engine memory per configured point (tracemalloc over the
construction of a sample of engines, and the RSS growth for all of them); the alarm latency.
Prints one JSON line. Other processes on the machine slow it down: compare runs on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fireroom.config import Site, SiteInfo, parse_site
from fireroom.domain import PointValue, Quality, Reading
from fireroom.points import Role
from fireroom.telemetry import Telemetry
from services.rules import FIRE_ALARM, Raise, RulesEngine

PANEL_POINTS = 970
VARIANTS = 64  # pre-built scans per pump and module, played in turn
START = 1_764_000_000.0


class _Clock:
    def __init__(self) -> None:
        self.mono = 0.0

    def now(self) -> float:
        return START + self.mono

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        self.mono += seconds


def _template() -> Site:
    tcp = {"type": "tcp", "host": "127.0.0.1", "port": 502}
    transmitter = {"low": 0.0, "high": 1.6, "unit": "MPa"}
    panel = [{"name": f"L{i // 200 + 1}-P{i:04d}", "index": i} for i in range(PANEL_POINTS)]
    data = {
        "site": {"id": "site-000"},
        "devices": [
            {"id": "facp-1", "profile": "gbt26875-panel", "transport": tcp, "points": panel},
            {"id": "facp-2", "profile": "gbt26875-panel", "transport": tcp, "points": panel},
            {"id": "pump-1", "profile": "electric-pump-controller", "transport": tcp,
             "pump": {"kind": "main", "rated_kw": 45}},
            {"id": "jockey-1", "profile": "electric-pump-controller", "transport": tcp,
             "pump": {"kind": "jockey"}},
            {"id": "ai-1", "profile": "ai-4-20ma-8ch", "transport": tcp, "points": [
                {"name": "main_pressure", "index": 0, "role": "pressure",
                 "transmitter": transmitter},
                {"name": "riser_pressure", "index": 1, "role": "pressure", "low_limit": 0.1,
                 "transmitter": transmitter},
                {"name": "tank_level", "index": 2, "role": "level", "low_limit": 2.5,
                 "transmitter": {"low": 0.0, "high": 5.0, "unit": "m"}},
                {"name": "tank_temperature", "index": 3, "role": "temperature",
                 "transmitter": {"low": -20.0, "high": 80.0, "unit": "°C"}},
            ]},
        ],
        "rules": {"low_pressure": {"threshold": 0.30}},
    }
    return parse_site(data)


def _site(template: Site, number: int) -> Site:
    # The sites share their resolved points: only the engines' own state is measured.
    info = SiteInfo(id=f"site-{number:03d}", name="", timezone="Asia/Shanghai")
    return Site(
        config=template.config.model_copy(update={"site": info}),
        profiles=template.profiles,
        points=template.points,
        source=template.source,
        device_rules=template.device_rules,
    )


def _readings(values: dict[str, PointValue]) -> list[Reading]:
    return [Reading(name, value, Quality.GOOD) for name, value in values.items()]


def _panel_scan(site: Site, device: str, special: dict[str, list[str]]) -> list[Reading]:
    values: dict[str, PointValue] = {}
    for spec in site.points[device]:
        if spec.flags is not None:
            values[spec.name] = special.get(spec.name, ["normal"])
        else:
            values[spec.name] = 0
    return _readings(values)


def _pump_scans(site: Site, device: str, jockey: bool) -> list[list[Reading]]:
    scans = []
    for variant in range(VARIANTS):
        running = jockey and variant % 16 < 2  # the jockey runs 2 scans in 16
        values: dict[str, PointValue] = {}
        for spec in site.points[device]:
            if spec.enum is not None:
                values[spec.name] = "auto" if spec.name == "mode" else "none"
            elif spec.flags is not None:
                values[spec.name] = []
            elif spec.type.value in ("bit", "coil", "discrete"):
                values[spec.name] = running if spec.name == "running" else False
            else:
                values[spec.name] = round(380.0 + random.uniform(-1, 1), 1)
        scans.append(_readings(values))
    return scans


def _module_scans() -> list[list[Reading]]:
    scans = []
    for variant in range(VARIANTS):
        pressure = 0.62 + 0.07 * math.sin(variant / VARIANTS * 2 * math.pi)
        values: dict[str, PointValue] = {
            "main_pressure": round(pressure, 4),
            "riser_pressure": round(pressure - 0.25, 4),
            "tank_level": 3.2 + random.uniform(-0.005, 0.005),
            "tank_temperature": 12.0 + random.uniform(-0.1, 0.1),
            "module_status": [],
            "module_temperature": 31.5,
        }
        scans.append(_readings(values))
    return scans


def _rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class _Phase:
    seconds: float = 0.0
    rounds: int = 0
    samples: int = 0
    transitions: int = 0
    latencies: list[float] = field(default_factory=list)
    round_times: list[float] = field(default_factory=list)


Feed = list[tuple[Telemetry, list[list[Reading]]]]


def _measure(
    streams: list[tuple[RulesEngine, Feed]], clock: _Clock, names: list[str], seconds: float,
    first_round: int,
) -> _Phase:
    """Evaluate rounds for `seconds`; each round one random detector goes to fire."""
    phase = _Phase()
    rounds = first_round
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        ts = START + rounds
        clock.mono = float(rounds)
        target = random.randrange(len(streams))
        point = random.choice(names)
        round_start = time.perf_counter()
        for index, (engine, messages) in enumerate(streams):
            for message, scans in messages:
                message.ts = ts
                message.seq = rounds
                message.readings = scans[rounds % len(scans)]
                if index == target and message.device == "facp-1":
                    fire = list(message.readings)
                    position = next(i for i, r in enumerate(fire) if r.point == point)
                    fire[position] = Reading(point, ["fire"], Quality.GOOD)
                    message.readings = fire
                    called = time.perf_counter()
                    out = engine.evaluate(message)
                    phase.latencies.append(time.perf_counter() - called)
                    assert any(isinstance(t, Raise) and t.rule == FIRE_ALARM for t in out)
                else:
                    out = engine.evaluate(message)
                phase.transitions += len(out)
                phase.samples += len(message.readings)
            phase.transitions += len(engine.tick())
        phase.round_times.append(time.perf_counter() - round_start)
        rounds += 1
    phase.seconds = time.perf_counter() - started
    phase.rounds = rounds - first_round
    return phase


def _feeds(site: Site, storm: float) -> Feed:
    # Steady states: two isolated detectors and one in fault per panel. In a storm a share of
    # each panel's detectors flips between fault and normal every round.
    special = {"L1-P0007": ["disabled"], "L2-P0300": ["disabled"], "L3-P0555": ["fault"]}
    panels = []
    for device in ("facp-1", "facp-2"):
        scans = [_panel_scan(site, device, special)]
        if storm:
            names = [s.name for s in site.points[device] if s.role is Role.FACP_POINT]
            stormy = {name: ["fault"] for name in random.sample(names, int(storm * len(names)))}
            scans.append(_panel_scan(site, device, special | stormy))
        panels.append((device, scans))
    devices = [
        *panels,
        ("pump-1", _pump_scans(site, "pump-1", jockey=False)),
        ("jockey-1", _pump_scans(site, "jockey-1", jockey=True)),
        ("ai-1", _module_scans()),
    ]
    return [(Telemetry(site.id, device, START, 0, scans[0]), scans) for device, scans in devices]


def run(sites: int, seconds: float, storm: float = 0.02, traced: int = 5) -> dict[str, Any]:
    random.seed(1)
    template = _template()
    per_site = sum(len(points) for points in template.points.values())
    points = per_site * sites
    clock = _Clock()
    # Memory: tracemalloc over a few engines (exact, but slow), RSS over all of them.
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    sample = [RulesEngine(_site(template, n), clock) for n in range(traced)]
    traced_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del sample
    site_list = [_site(template, n) for n in range(sites)]
    feeds = [_feeds(site, 0.0) for site in site_list]
    stormy = [_feeds(site, storm) for site in site_list]
    rss_before = _rss()
    engines = [RulesEngine(site, clock) for site in site_list]
    rss_built = _rss() - rss_before
    names = [
        spec.name
        for spec in template.points["facp-1"]
        if spec.role is Role.FACP_POINT and not spec.name.endswith(("0007", "0300", "0555"))
    ]
    steady = _measure(list(zip(engines, feeds, strict=True)), clock, names, seconds, 0)
    rss_after = _rss() - rss_before
    storming = _measure(
        list(zip(engines, stormy, strict=True)), clock, names, seconds / 4, steady.rounds
    )
    latencies = steady.latencies
    return {
        "benchmark": "rules",
        "sites": sites,
        "points_per_site": per_site,
        "points": points,
        "seconds": round(steady.seconds, 2),
        "rounds": steady.rounds,
        "samples": steady.samples,
        "samples_per_second": round(steady.samples / steady.seconds),
        "round_ms_p50": round(statistics.median(steady.round_times) * 1000, 1),
        "bytes_per_point_traced": round(traced_bytes / (per_site * traced)),
        "bytes_per_point_rss": round(rss_built / points),
        # The same after the run: condition state is allocated as conditions come and go.
        "bytes_per_point_rss_after_run": round(rss_after / points),
        "alarms": len(latencies),
        "alarm_latency_ms_p50": round(statistics.median(latencies) * 1000, 3),
        "alarm_latency_ms_p99": round(_percentile(latencies, 0.99) * 1000, 3),
        "alarm_latency_ms_max": round(max(latencies) * 1000, 3),
        # A fault storm: `storm` of every panel's detectors flip between fault and normal.
        "storm_share": storm,
        "storm_samples_per_second": round(storming.samples / storming.seconds),
        "storm_transitions_per_second": round(storming.transitions / storming.seconds),
        "storm_alarm_latency_ms_p99": round(_percentile(storming.latencies, 0.99) * 1000, 3),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=250)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--storm", type=float, default=0.02, help="share of detectors in a storm")
    parser.add_argument("--quick", action="store_true", help="10 sites for 3 s")
    args = parser.parse_args()
    sites, seconds = (10, 3.0) if args.quick else (args.sites, args.seconds)
    if sites < 1:
        sys.exit("--sites must be at least 1")
    print(json.dumps(run(sites, seconds, args.storm)))


if __name__ == "__main__":
    main()
