"""Incident events to InfluxDB: measurement `incident` (fireroom.lineprotocol.incident_line).

The rules service calls an `IncidentWriter` with every change it recorded; the lines go through
the same buffered writer as the gateway's readings, with a buffer file of their own, so an
InfluxDB outage delays the dashboards' incident annotations but loses none and never stalls
the rules.
"""

from __future__ import annotations

from collections.abc import Sequence

from fireroom.clock import Clock, SystemClock
from fireroom.lineprotocol import incident_line
from gateway.influx.writer import BufferedWriter
from gateway.metrics import Metric
from services.incidents.models import EventKind, Incident, IncidentChange

__all__ = ["IncidentWriter", "event_time"]


def event_time(change: IncidentChange, now: float) -> float:
    """When the change happened, from the incident's own times; `now` where it keeps none."""
    incident: Incident = change.incident
    match change.event:
        case EventKind.RAISED:
            at: float | None = incident.raised_at
        case EventKind.RETRIGGERED | EventKind.UPDATED:
            at = incident.last_triggered_at
        case EventKind.ACKNOWLEDGED:
            at = incident.acked_at
        case EventKind.CLEARED:
            at = incident.cleared_at
        case _:
            at = None
    return now if at is None else at


class IncidentWriter:
    """Writes incident changes as `incident` lines; call it with the changes of one apply.

    Args:
        writer: the buffered writer (its own buffer file); `run()` runs it.
        clock: the time of events whose incident keeps no time for them.
    """

    def __init__(self, writer: BufferedWriter, *, clock: Clock | None = None) -> None:
        self.writer = writer
        self._clock: Clock = clock or SystemClock()
        self._last_ns = 0

    def __call__(self, changes: Sequence[IncidentChange]) -> None:
        self.record(changes)

    def record(self, changes: Sequence[IncidentChange]) -> None:
        lines: list[str] = []
        now = self._clock.now()
        for change in changes:
            if change.event is None:
                continue
            incident = change.incident
            # Two incidents of one rule, severity and device raised by the same scan would share
            # series and timestamp, and InfluxDB would keep only the last: each event gets its
            # own nanosecond.
            ts_ns = max(round(event_time(change, now) * 1e9), self._last_ns + 1)
            self._last_ns = ts_ns
            lines.append(
                incident_line(
                    site=incident.site,
                    rule=incident.rule,
                    severity=incident.severity.value,
                    device=incident.device,
                    incident_id=incident.id,
                    subject=incident.subject,
                    state=incident.state.value,
                    event=change.event.value,
                    message=incident.message,
                    ts_ns=ts_ns,
                )
            )
        if lines:
            self.writer.put(lines)

    async def run(self) -> None:
        await self.writer.run()

    def metrics(self) -> list[Metric]:
        return self.writer.metrics()
