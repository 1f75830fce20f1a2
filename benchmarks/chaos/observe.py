"""What the campaign watches: incidents appearing in the store, and alerts at the webhook.

Times are the campaign's own monotonic clock when it first saw a row or a request, never the
stored `raised_at`: the clock faults step the services' wall clocks on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Hooks", "Incidents", "Row"]


@dataclass(frozen=True, slots=True)
class Row:
    """An incident raised, or raised again (one open incident per rule and subject)."""

    incident: int
    rule: str
    subject: str
    seen: float  # time.monotonic() when the campaign first saw it


@dataclass(slots=True)
class Incidents:
    """Polls the incident event log (read-only) for activations, 10 times a second."""

    path: Path
    rows: list[Row] = field(default_factory=list)
    _last_id: int = 0

    def _poll(self) -> list[tuple[int, int, str, str]]:
        if not self.path.exists():
            return []
        uri = f"file:{self.path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=0.5)) as db:
            return db.execute(
                "SELECT e.id, i.id, i.rule, i.subject FROM incident_event e"
                " JOIN incident i ON i.id = e.incident_id"
                " WHERE e.id > ? AND e.kind IN ('raised', 'retriggered') ORDER BY e.id",
                (self._last_id,),
            ).fetchall()

    async def run(self) -> None:
        while True:
            try:
                found = await asyncio.to_thread(self._poll)
            except sqlite3.Error:
                found = []  # locked by the SQLite fault, or mid-checkpoint: look again
            now = time.monotonic()
            for event_id, incident_id, rule, subject in found:
                self.rows.append(Row(incident_id, rule, subject, now))
                self._last_id = max(self._last_id, event_id)
            await asyncio.sleep(0.1)

    def first(self, rule: str, subject: str, after: float) -> Row | None:
        for row in self.rows:
            if row.rule == rule and row.subject == subject and row.seen >= after:
                return row
        return None

    def incidents(self, rule: str, subject: str) -> int:
        """How many distinct incidents `rule` raised on `subject`."""
        return len({r.incident for r in self.rows if r.rule == rule and r.subject == subject})

    def any_of(self, rules: set[str], after: float, before: float) -> list[Row]:
        return [row for row in self.rows if row.rule in rules and after <= row.seen <= before]


@dataclass(slots=True)
class Hooks:
    """When each alert reached the campaign's webhook receiver, and what it said."""

    arrivals: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def received(self, document: dict[str, Any]) -> None:
        self.arrivals.append((time.monotonic(), document))

    def first(self, subject: str, after: float) -> float | None:
        for at, document in self.arrivals:
            incident = document.get("incident")
            if (
                at >= after
                and isinstance(incident, dict)
                and incident.get("subject") == subject
                and incident.get("rule") == "fire_alarm"
            ):
                return at
        return None

    def raised_alerts(self, subject: str) -> list[tuple[Any, Any]]:
        """(incident id, activation count) of each fire alarm alert for `subject`."""
        keys = []
        for _, document in self.arrivals:
            incident = document.get("incident")
            if (
                isinstance(incident, dict)
                and incident.get("subject") == subject
                and incident.get("rule") == "fire_alarm"
                and document.get("event") in ("raised", "retriggered")
                and document.get("stored", True) is not False
            ):
                keys.append((incident.get("id"), incident.get("count")))
        return keys
