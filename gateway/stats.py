"""Per-device counters for the CLI, the benchmarks and the operators' diagnostics."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal, TypedDict

__all__ = ["DeviceReport", "DeviceStats", "ErrorKind", "no_errors", "percentile"]

# "busy" answers (exception 6) are also counted as "exception".
ErrorKind = Literal["timeout", "exception", "busy", "garbage", "connection"]



def percentile(values: Collection[float], fraction: float) -> float | None:
    """Nearest-rank percentile, None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def no_errors() -> dict[ErrorKind, int]:
    return {"timeout": 0, "exception": 0, "busy": 0, "garbage": 0, "connection": 0}


@dataclass(slots=True)
class DeviceStats:
    """Counters of one device poller; round-trip times keep the last `rtt_window` requests."""

    rtt_window: int = 512
    scans: int = 0
    failed_scans: int = 0
    requests: int = 0
    errors: dict[ErrorKind, int] = field(default_factory=no_errors)
    missed_ticks: int = 0
    refused_blocks: int = 0  # read blocks the device answers "illegal address" for
    last_good: float | None = None  # wall-clock time of the last answered request
    rtts: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self.rtts = deque(maxlen=self.rtt_window)

    def rtt_percentile(self, fraction: float) -> float | None:
        """Nearest-rank percentile of the recent round-trip times, in seconds."""
        return percentile(self.rtts, fraction)

    def summary(self) -> str:
        """One line for the log when the device changes state."""
        errors = ", ".join(f"{kind} {count}" for kind, count in self.errors.items() if count)
        p50, p99 = self.rtt_percentile(0.5), self.rtt_percentile(0.99)
        rtt = "no answers yet" if p50 is None or p99 is None else (
            f"round trip p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
        )
        last = "never" if self.last_good is None else time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(self.last_good)
        )
        return (
            f"{self.requests} requests, errors: {errors or 'none'}, {rtt}, last good read {last}"
        )

    def report(
        self, *, state: str, requests_per_scan: int, published: int, dropped: int
    ) -> DeviceReport:
        return {
            "state": state,
            "scans": self.scans,
            "failed_scans": self.failed_scans,
            "requests": self.requests,
            "requests_per_scan": requests_per_scan,
            "errors": dict(self.errors),
            "missed_ticks": self.missed_ticks,
            "refused_blocks": self.refused_blocks,
            "last_good": self.last_good,
            "rtt_p50": self.rtt_percentile(0.5),
            "rtt_p99": self.rtt_percentile(0.99),
            "published": published,
            "dropped": dropped,
        }


class DeviceReport(TypedDict):
    """One device's line in `Gateway.stats()`; times in seconds, `last_good` Unix time."""

    state: str  # online, offline, or unknown before the first scan
    scans: int
    failed_scans: int
    requests: int
    requests_per_scan: int
    errors: dict[ErrorKind, int]
    missed_ticks: int
    refused_blocks: int
    last_good: float | None
    rtt_p50: float | None
    rtt_p99: float | None
    published: int  # telemetry messages handed to the broker
    dropped: int  # telemetry messages lost while the broker was away or slow
