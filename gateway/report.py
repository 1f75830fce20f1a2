"""Report by exception: publish what changed, and everything now and then.

A fire panel of 2,000 detectors changes a few registers a day; sending all 2,000 readings every
second costs the broker, the network and every consumer for nothing. With `report.by_exception`
a device's message carries only the readings that changed since they were last sent:

- a state (flags, enumeration, bit) or a quality that differs;
- a number that moved more than its point's `deadband` (or the device's `report.deadband`),
  measured from the value last sent, so a slow drift is still reported once it adds up.

Every `integrity_seconds` the message carries every reading (`full` true), so a consumer that
joins late, or lost messages, knows everything within that time. A scan of a lost device is
always sent in full: a lost device must never look like an unchanged one. A message is sent
for every scan even when nothing changed, so its `seq` and `ts` still say the device answers.
A device's next message is also full when a consumer asks for a snapshot or one of its
messages was dropped (`gateway.snapshots`). A fast lane's partial messages pass as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fireroom.clock import Clock
from fireroom.config import ReportSettings
from fireroom.domain import Reading
from fireroom.points import PointSpec
from gateway.poller import DeviceStatus, Scan, ScanSink
from gateway.snapshots import SnapshotRequests

__all__ = ["ExceptionReporter", "ReportingSink"]


class ExceptionReporter:
    """Decides what of one device's scans is sent.

    Args:
        settings: the device's `report` settings.
        points: the device's points, for their deadbands.
        clock: monotonic time for the integrity interval.
    """

    def __init__(self, settings: ReportSettings, points: Iterable[PointSpec], clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._deadbands = {
            point.name: settings.deadband if point.deadband is None else point.deadband
            for point in points
        }
        self._sent: dict[str, Reading] = {}  # the reading each consumer now holds, per point
        self._latest: dict[str, Reading] = {}  # the last reading of each point, sent or not
        self._next_full: float | None = None
        self.suppressed = 0  # readings not sent because nothing changed

    def resend(self) -> None:
        """Send everything with the next scan (the messages before may have been lost)."""
        self._next_full = None

    def sent(self, scan: Scan) -> None:
        """Note a partial message that went out as it was (a fast lane's)."""
        for reading in scan.readings:
            self._latest[reading.point] = reading
            self._sent[reading.point] = reading

    def filter(self, scan: Scan) -> Scan:
        """The scan to publish: all of it, or its changes (`full` False)."""
        latest = self._latest
        for reading in scan.readings:
            latest[reading.point] = reading
        now = self.clock.monotonic()
        if not scan.ok or self._next_full is None or now >= self._next_full:
            self._next_full = now + self.settings.integrity_seconds
            self._sent = dict(latest)
            # A device heard in parts (MQTT) gets every point it has ever sent, at its latest.
            readings = scan.readings if len(scan.readings) == len(latest) else list(latest.values())
            return Scan(scan.device, scan.ts, scan.seq, readings, scan.ok, full=True)
        changed: list[Reading] = []
        sent = self._sent
        for reading in scan.readings:
            previous = sent.get(reading.point)
            if previous is reading:  # the decoder reused it: the registers did not change
                continue
            if previous is None or self._differs(reading, previous):
                sent[reading.point] = reading
                changed.append(reading)
        self.suppressed += len(scan.readings) - len(changed)
        return Scan(scan.device, scan.ts, scan.seq, changed, scan.ok, full=False)

    def _differs(self, reading: Reading, previous: Reading) -> bool:
        if reading.quality is not previous.quality:
            return True
        value, before = reading.value, previous.value
        numbers = (
            isinstance(value, (int, float))
            and isinstance(before, (int, float))
            and not isinstance(value, bool)
            and not isinstance(before, bool)
        )
        if numbers:
            deadband = self._deadbands.get(reading.point, 0.0)
            return abs(float(value) - float(before)) > deadband  # type: ignore[arg-type]
        return value != before


class ReportingSink:
    """Passes each device's scans through its reporter on the way to `sink` (the publisher).

    Devices without `by_exception` pass unchanged. `connections` counts the publisher's broker
    connections: after each new one every device sends a snapshot, because consumers may have
    joined meanwhile. `snapshots` names devices whose next scan must be sent in full.
    """

    def __init__(
        self,
        sink: ScanSink,
        reporters: dict[str, ExceptionReporter],
        connections: Callable[[], int] = lambda: 0,
        snapshots: SnapshotRequests | None = None,
    ) -> None:
        self.sink = sink
        self.reporters = reporters
        self.connections = connections
        self.snapshots = snapshots
        self._connection = 0

    def scan(self, scan: Scan) -> None:
        reporter = self.reporters.get(scan.device)
        if reporter is None:
            self.sink.scan(scan)
            return
        if scan.fast:
            reporter.sent(scan)
            self.sink.scan(scan)
            return
        connection = self.connections()
        if connection != self._connection:
            self._connection = connection
            for each in self.reporters.values():
                each.resend()
        if self.snapshots is not None and self.snapshots.take(scan.device):
            reporter.resend()
        self.sink.scan(reporter.filter(scan))

    def status(self, device: str, status: DeviceStatus) -> None:
        self.sink.status(device, status)
