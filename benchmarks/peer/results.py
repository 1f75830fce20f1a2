"""The race's figures: one JSON object per gateway and the comparison."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

__all__ = ["Gateway", "Snapshot", "Window", "loadavg", "results"]


@dataclass(frozen=True)
class Snapshot:
    """A gateway's counters at one moment (`time.monotonic()`)."""

    at: float
    cpu: float
    points: int
    empty: int
    messages: int


@dataclass(frozen=True)
class Gateway:
    """What one gateway did over the window."""

    name: str
    version: str
    before: Snapshot
    after: Snapshot
    peak_rss_mib: float
    silent_detected_at: float | None  # first report that the silent device is lost
    silent_reports: int  # reports that it is lost, within the window
    silent_report: str  # what the report looks like on the broker
    notes: list[str]


@dataclass(frozen=True)
class Window:
    """The measured window and what is the same for both gateways."""

    mode: str
    devices: int
    points_per_device: int
    values_per_device: int  # points plus the panel's own registers
    poll: float
    timeout: float
    warmup: float
    silent: str
    silenced_at: float
    own_cpu: float  # this process: simulators and listener
    load_start: list[float]
    notes: list[str]


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _ratio(ours: float | None, theirs: float | None, digits: int = 2) -> float | None:
    if ours is None or theirs is None or theirs == 0:
        return None
    return round(ours / theirs, digits)


def _gateway(window: Window, gateway: Gateway) -> dict[str, Any]:
    first, last = gateway.before, gateway.after
    elapsed = last.at - first.at
    points = last.points - first.points
    cpu = last.cpu - first.cpu
    # Every value of every device each poll, less the silent device's after it fell silent.
    expected = (
        window.devices * window.values_per_device * elapsed
        - window.values_per_device * max(0.0, last.at - window.silenced_at)
    ) / window.poll
    share = points / expected if expected > 0 else 0.0
    notes = list(gateway.notes)
    if share < 0.95:
        notes.append(f"delivered {share:.0%} of the values polled: starved of CPU or too slow")
    detected = gateway.silent_detected_at
    if detected is None:
        notes.append(
            f"never reported {window.silent} lost in the {last.at - window.silenced_at:.1f} s "
            "after it fell silent"
        )
    return {
        "benchmark": "peer",
        "gateway": gateway.name,
        "version": gateway.version,
        "window_s": round(elapsed, 1),
        "messages": last.messages - first.messages,
        "points": points,
        "points_expected": round(expected),
        "delivered_share": round(share, 3),
        "readings_without_value": last.empty - first.empty,
        "points_per_s": round(points / elapsed),
        "cpu_s": round(cpu, 2),
        "cpu_cores": round(cpu / elapsed, 3),
        "cpu_s_per_million_points": round(cpu / (points / 1e6), 2) if points else None,
        "points_per_cpu_s": round(points / cpu) if cpu else None,
        "peak_rss_mib": round(gateway.peak_rss_mib, 1),
        "silent_device": window.silent,
        "silent_detected_s": None if detected is None else round(detected - window.silenced_at, 2),
        "silent_report": gateway.silent_report,
        "silent_reports_in_window": gateway.silent_reports,
        "notes": notes,
    }


def results(window: Window, ours: Gateway, theirs: Gateway) -> list[dict[str, Any]]:
    """fireroom's line, the peer's line and, last, the comparison (fireroom over peer)."""
    mine, peer = _gateway(window, ours), _gateway(window, theirs)
    notes = ["ratios are fireroom's figure over the peer's", *window.notes]
    if peer["silent_detected_s"] is None:
        notes.append("the peer never reported the silent device: its detection ratio is null")
    comparison = {
        "benchmark": "peer",
        "mode": window.mode,
        "ratio_points_per_cpu_s": _ratio(mine["points_per_cpu_s"], peer["points_per_cpu_s"]),
        "ratio_points_per_s": _ratio(mine["points_per_s"], peer["points_per_s"], 3),
        "ratio_cpu_s_per_million_points": _ratio(
            mine["cpu_s_per_million_points"], peer["cpu_s_per_million_points"]
        ),
        "ratio_peak_rss_mib": _ratio(mine["peak_rss_mib"], peer["peak_rss_mib"]),
        "ratio_silent_detected_s": _ratio(mine["silent_detected_s"], peer["silent_detected_s"]),
        "poll_s": window.poll,
        "timeout_s": window.timeout,
        "devices": window.devices,
        "points_per_device": window.points_per_device,
        "values_per_device": window.values_per_device,
        "window_s": mine["window_s"],
        "warmup_s": window.warmup,
        "silent_after_s": round(window.silenced_at - ours.before.at, 1),
        "simulators_and_listener_cpu_s": round(window.own_cpu, 2),
        "machine": {
            "arch": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": window.load_start,
            "loadavg_end": loadavg(),
        },
        "notes": notes,
    }
    return [mine, peer, comparison]
