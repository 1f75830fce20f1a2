"""Gateway throughput benchmark: one `fireroom gateway` process on one core, devices that answer
at once, a real Mosquitto, and a subscriber that counts every reading.

    python -m benchmarks.gateway            # 100 panels x 200 points, poll 0.2 s, 30 s window
    python -m benchmarks.gateway --quick    # the same site, 12 s window: about 37 s in all

The question is the issue's: can one gateway process on one core publish 100,000 points per
second when the devices are not the bottleneck? The gateway (`python -m fireroom.cli gateway`)
is pinned to one core (`--gateway-core`, 0) with `os.sched_setaffinity`; everything else, this
process (site, listener), the simulators' process, Mosquitto and py-spy, is pinned to the other
cores, so "one core" is real and the gateway's figures are its own.

Devices: `gbt26875-panel` panels, `--points` detector points each (plus the panel's five
header values: system status, three counts, the u32 event counter), `report.by_exception` off
so every value is published every scan. Each panel is read in three requests (header, then
125 + 75 point registers). 100 panels at 0.2 s are 1,500 requests and 102,500 values a second.

Simulators: this repo's (`simulators.SiteSimulator`, pymodbus servers, as the peer benchmark
uses), in a process of their own (`benchmarks.lean_modbus`). They keep up: at 1,500 requests a
second the other core is about 36 % busy with them, Mosquitto and the listener together.
`--simulator lean` serves the same register images (`simulators.SiteModel`) with a lean Modbus
TCP server written for this benchmark (one `struct.pack` per answer; 26 % for the same load);
it is the one that can answer `--volatile`.

What changes between scans: `--changes` detector points per second (20) are set to a random
state through the panel model, which also moves the system status word, the counts and the
event counter, as a panel does. `--volatile` instead makes every word of every answer differ
from the previous answer to the same request, through thousands of values: nothing can be
reused, every point is decoded again each scan, the gateway's worst case.

Figures (human-readable on stderr, one JSON line on stdout): values offered and delivered per
second (counted on the broker, by the `ts` of the scan, so a backlog drained during the window
is not counted as delivered in it; readings without a value are counted apart), gateway CPU
seconds per million values and its utilisation in cores (utime + stime from /proc over the
window), peak RSS (VmHWM), missed poll ticks and dropped telemetry from the gateway's
/metrics, message age on arrival (receipt time minus the scan's `ts`), sequence gaps, the CPU
the other core spent (simulators, Mosquitto, listener) and the load average. With
`--py-spy FILE` py-spy samples the gateway during the window (`--nonblocking`, from the other
core) and the top lines by own time are printed; FILE gets py-spy's raw collapsed stacks.
py-spy counts much of the event loop's waiting in `epoll` as busy (40 % of its samples where
/proc says 15 % of the gateway's CPU is in the kernel): the CPU figures are /proc's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.peer.proc import GatewayProcess
from benchmarks.peer.progress import say
from benchmarks.watch import Tally, listen, percentile, scrape, spy_top
from fireroom.config import Site, TcpTransport, load_site
from tests.servers import free_port, listen_ports, run_mosquitto, wait_for_port

SITE = "bench"
_REPO = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


def _site_yaml(args: argparse.Namespace, broker_port: int, data: Path) -> str:
    ports = listen_ports(args.devices)
    config: dict[str, Any] = {
        "site": {"id": SITE, "name": "gateway benchmark"},
        "mqtt": {"host": "127.0.0.1", "port": broker_port},
        "data_dir": str(data),
        "devices": [
            {
                "id": f"panel-{d:03d}",
                "profile": "gbt26875-panel",
                "transport": {"type": "tcp", "host": "127.0.0.1", "port": ports[d]},
                "poll_interval": args.poll,
                "timeout": 1.0,
                "report": {"by_exception": False},
                "points": [{"name": f"P{i:04d}", "index": i} for i in range(args.points)],
            }
            for d in range(args.devices)
        ],
    }
    return yaml.safe_dump(config)


def _pin(pid: int, cores: set[int]) -> None:
    """Pin every thread of a process (a new thread inherits its creator's affinity)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cores)


def _cores(gateway_core: int) -> tuple[set[int], set[int]]:
    available = os.sched_getaffinity(0)
    if gateway_core not in available or len(available) < 2:
        raise SystemExit(f"need core {gateway_core} and another one; have {sorted(available)}")
    return {gateway_core}, available - {gateway_core}


@dataclass
class _Window:
    """What was measured over the window."""

    elapsed: float
    cpu: float  # the gateway's
    system_cpu: float  # the gateway's in the kernel (stime)
    other_cpu: float  # simulators, Mosquitto, this process (listener), py-spy
    gaps: int
    scans: list[tuple[float, float, int, int]]  # the window's, see `Tally.scans`
    metrics: dict[str, float]  # the window's increase of each /metrics counter (summed)
    peak_rss: float
    affinity: list[int]


async def _measure(
    args: argparse.Namespace, gateway: GatewayProcess, *, others: list[GatewayProcess],
    broker_pid: int, tally: Tally, metrics_port: int,
) -> _Window:
    metrics0 = await scrape(metrics_port)
    cpu0, system0 = gateway.cpu_seconds(), _cpu_seconds(gateway.pid, system=True)
    others0 = [process.cpu_seconds() for process in others]
    broker0 = _cpu_seconds(broker_pid)
    own0 = time.process_time()
    gaps0 = tally.gaps
    start, wall_start = time.monotonic(), time.time()
    await asyncio.sleep(args.seconds)
    elapsed = time.monotonic() - start
    cpu = gateway.cpu_seconds() - cpu0
    system_cpu = _cpu_seconds(gateway.pid, system=True) - system0
    other_cpu = (sum(p.cpu_seconds() - before for p, before in zip(others, others0, strict=True))
                 + _cpu_seconds(broker_pid) - broker0 + time.process_time() - own0)
    gaps = tally.gaps - gaps0
    metrics1 = await scrape(metrics_port)
    window = _Window(
        elapsed, cpu, system_cpu, other_cpu, gaps, [],
        {name: value - metrics0.get(name, 0.0) for name, value in metrics1.items()},
        gateway.peak_rss_mib(), sorted(os.sched_getaffinity(gateway.pid)),
    )
    # Scans of the window still queued in the gateway or the broker.
    await asyncio.sleep(args.grace)
    window.scans = tally.window(wall_start, wall_start + elapsed)
    return window


def _cpu_seconds(pid: int, *, system: bool = False) -> float:
    """utime + stime of a process and its reaped children; with `system`, stime alone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in ((12,) if system else (11, 12, 13, 14))) / _TICKS


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    gateway_cores, other_cores = _cores(args.gateway_core)
    os.sched_setaffinity(0, other_cores)  # Mosquitto and the simulators inherit it
    load_start = [round(x, 2) for x in os.getloadavg()]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FIREROOM_")}
    with tempfile.TemporaryDirectory(prefix="fireroom-gw-bench-") as tmp:
        root = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            # Unwound in reverse: py-spy, the gateway, the listener, the simulators, Mosquitto.
            if args.keep_log is not None:
                stack.callback(_keep_logs, root, args.keep_log)
            broker = stack.enter_context(run_mosquitto(root / "mosquitto"))
            broker_pid = next(
                pid for pid in _children_of(os.getpid()) if "mosquitto" in _command(pid)
            )
            site_file = root / "site.yaml"
            site_file.write_text(_site_yaml(args, broker.port, root / "data"))
            site = load_site(site_file)
            simulators = _process(
                stack, "simulators",
                [sys.executable, "-m", "benchmarks.lean_modbus", "--config", str(site_file),
                 "--simulator", args.simulator, "--changes", str(args.changes),
                 *(["--volatile"] if args.volatile else [])],
                root, environment, cwd=_REPO,
            )
            await _until_listening(simulators, site)
            tally = Tally()
            ready = asyncio.Event()
            listener = asyncio.create_task(listen(broker.port, SITE, tally, ready))
            stack.push_async_callback(_cancel, listener)
            await ready.wait()
            metrics_port = free_port()
            gateway = _process(
                stack, "gateway",
                [sys.executable, "-m", "fireroom.cli", "gateway", "--config", str(site_file),
                 "--metrics-port", str(metrics_port)],
                root, environment,
            )
            _pin(gateway.pid, gateway_cores)
            await _until_delivering(gateway, {d.id for d in site.config.devices}, tally)
            await asyncio.sleep(args.warmup)
            _pin(gateway.pid, gateway_cores)  # threads started since (getaddrinfo)
            others = [simulators]
            if args.py_spy is not None:
                others.append(_process(
                    stack, "py-spy",
                    [shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                     "record", "--nonblocking", "--format", "raw", "--rate", "200",
                     "--duration", str(int(args.seconds)), "--pid", str(gateway.pid),
                     "--output", str(args.py_spy)],
                    root, environment,
                ))
            window = await _measure(args, gateway, others=others, broker_pid=broker_pid,
                                    tally=tally, metrics_port=metrics_port)
    values_per_device = len(site.points[site.config.devices[0].id])
    return _result(args, window, values_per_device, len(other_cores), load_start)


def _process(stack: contextlib.AsyncExitStack, name: str, command: list[str], root: Path,
             environment: dict[str, str], *, cwd: Path | None = None) -> GatewayProcess:
    process = GatewayProcess(name, command, log=root / f"{name}.log", cwd=cwd or root,
                             env=environment)
    process.start()
    stack.callback(process.stop)
    return process


async def _until_listening(simulators: GatewayProcess, site: Site) -> None:
    for device in site.config.devices:
        transport = device.transport
        assert isinstance(transport, TcpTransport)
        while True:
            if simulators.exited() is not None:
                raise RuntimeError(f"the simulators exited:\n{simulators.log_tail()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.to_thread(wait_for_port, transport.host, transport.port, 1.0)
                break


async def _until_delivering(gateway: GatewayProcess, devices: set[str], tally: Tally) -> None:
    started = time.monotonic()
    while not devices <= tally.devices:
        if gateway.exited() is not None:
            raise RuntimeError(f"the gateway exited:\n{gateway.log_tail()}")
        if time.monotonic() - started > 60:
            raise RuntimeError(f"{len(devices - tally.devices)} devices silent after 60 s")
        await asyncio.sleep(0.1)
    say(f"all {len(devices)} devices delivering after {time.monotonic() - started:.1f} s")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _keep_logs(root: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for log in root.glob("*.log"):
        shutil.copy(log, directory / log.name)


def _result(args: argparse.Namespace, window: _Window, values_per_device: int,
            other_cores: int, load_start: list[float]) -> dict[str, Any]:
    elapsed, cpu, scans = window.elapsed, window.cpu, window.scans
    offered = args.devices * values_per_device / args.poll
    points = sum(scan[2] for scan in scans)
    ages = [scan[1] for scan in scans]
    result: dict[str, Any] = {
        "benchmark": "gateway",
        "simulator": args.simulator,
        "changes_per_s": 0 if args.volatile else args.changes,
        "volatile": args.volatile,
        "devices": args.devices,
        "points_per_device": args.points,
        "values_per_device": values_per_device,
        "poll_s": args.poll,
        "window_s": round(elapsed, 1),
        "offered_points_per_s": round(offered),
        "points_per_s": round(points / elapsed),
        "delivered_share": round(points / (offered * elapsed), 3),
        "readings_without_value": sum(scan[3] for scan in scans),
        "messages": len(scans),
        "seq_gaps": window.gaps,
        "scans": round(window.metrics.get("fireroom_device_scans_total", 0)),
        "missed_ticks": round(window.metrics.get("fireroom_device_missed_ticks_total", 0)),
        "telemetry_dropped": round(
            window.metrics.get("fireroom_device_telemetry_dropped_total", 0)),
        "failed_scans": round(window.metrics.get("fireroom_device_failed_scans_total", 0)),
        "gateway_cpu_s": round(cpu, 2),
        "gateway_system_cpu_s": round(window.system_cpu, 2),
        "gateway_cores": round(cpu / elapsed, 3),
        "gateway_cpu_s_per_million_points": round(cpu / (points / 1e6), 2) if points else None,
        "gateway_points_per_cpu_s": round(points / cpu) if cpu else None,
        "gateway_peak_rss_mib": round(window.peak_rss, 1),
        "gateway_affinity": window.affinity,
        "message_age_p50_ms": _ms(percentile(ages, 0.5)),
        "message_age_p99_ms": _ms(percentile(ages, 0.99)),
        "other_core_cpu_s": round(window.other_cpu, 2),
        "other_core_utilisation": round(window.other_cpu / elapsed / other_cores, 3),
        "machine": {
            "arch": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": load_start,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
    }
    if args.py_spy is not None and args.py_spy.exists():
        result["py_spy_top"] = [
            (frame, round(own, 3), round(inclusive, 3))
            for frame, own, inclusive in spy_top(args.py_spy)
        ]
    return result


def _children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _report(result: dict[str, Any]) -> None:
    lines = [
        f"site: {result['devices']} panels x {result['values_per_device']} values, poll "
        f"{result['poll_s']:g} s, {result['simulator']} simulators, "
        + ("every answer changes" if result["volatile"]
           else f"{result['changes_per_s']:g} point changes/s"),
        f"offered   {result['offered_points_per_s']:>9,} points/s",
        f"delivered {result['points_per_s']:>9,} points/s ({result['delivered_share']:.1%});"
        f" {result['messages']} messages, {result['seq_gaps']} seq gaps,"
        f" {result['readings_without_value']} readings without value",
        f"gateway   {result['gateway_cpu_s_per_million_points']} CPU-s per million points, "
        f"{result['gateway_cores']:.2f} cores (on {result['gateway_affinity']}; "
        f"{result['gateway_system_cpu_s'] / max(result['gateway_cpu_s'], 0.01):.0%} in the "
        "kernel), "
        f"peak RSS {result['gateway_peak_rss_mib']} MiB",
        f"lateness  {result['missed_ticks']} missed ticks of {result['scans']} scans, "
        f"{result['telemetry_dropped']} telemetry dropped; message age p50 "
        f"{result['message_age_p50_ms']} ms, p99 {result['message_age_p99_ms']} ms",
        f"other core {result['other_core_utilisation']:.0%} busy "
        f"(simulators, Mosquitto, listener); load {result['machine']['loadavg_start']} -> "
        f"{result['machine']['loadavg_end']}",
    ]
    for frame, own, inclusive in result.get("py_spy_top", []):
        lines.append(f"  {own:6.1%} own {inclusive:6.1%} incl  {frame}")
    print("\n".join(lines), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gateway", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="12 s window, 3 s warm-up")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--points", type=int, default=200, help="detector points per panel")
    parser.add_argument("--poll", type=float, default=0.2, help="poll interval, s")
    parser.add_argument("--seconds", type=float, help="measured window, s (30)")
    parser.add_argument("--warmup", type=float, help="after every device delivers, s (5)")
    parser.add_argument("--changes", type=float, default=20.0,
                        help="detector state changes per second over the site (20)")
    parser.add_argument("--volatile", action="store_true",
                        help="every word of every answer changes (with --simulator lean)")
    parser.add_argument("--simulator", choices=("pymodbus", "lean"), default="pymodbus",
                        help="this repo's simulators (pymodbus), or the lean server")
    parser.add_argument("--grace", type=float, default=3.0,
                        help="after the window, for its scans still on their way, s (3)")
    parser.add_argument("--gateway-core", type=int, default=0)
    parser.add_argument("--py-spy", type=Path, metavar="FILE",
                        help="sample the gateway with py-spy; raw stacks to FILE")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR", dest="keep_log",
                        help="copy the processes' logs into DIR")
    args = parser.parse_args()
    if args.volatile and args.simulator != "lean":
        parser.error("--volatile needs --simulator lean")
    args.seconds = args.seconds or (12.0 if args.quick else 30.0)
    args.warmup = args.warmup if args.warmup is not None else (3.0 if args.quick else 5.0)
    result = asyncio.run(_run(args))
    _report(result)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
