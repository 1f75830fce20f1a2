"""The durable outbox: every alert is committed here before it is sent.

One row per alert and destination (channel, and recipient for e-mail). The row's `key` is unique,
so the same incident change reaching the notifier twice (MQTT redelivery, the escalation poll
seeing it too, a restart) is stored, and therefore sent, once. Delivery is at least once: a crash
between a successful send and `mark_sent` sends that one alert again after the restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from fireroom.errors import StoreError
from fireroom.sqlitestore import SqliteStore

__all__ = ["Alert", "Outbox", "OutboxError", "Pending"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS alert (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    priority INTEGER NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS alert_pending ON alert (channel, state, priority, attempts, id);
"""


class OutboxError(StoreError):
    """The outbox database failed."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One message to one destination, as queued."""

    key: str
    channel: str
    priority: int  # higher goes first: a fire alarm overtakes a queue of minor faults
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    alert: Alert
    attempts: int


class Outbox(SqliteStore):
    """Alerts waiting to be delivered, in one SQLite file (WAL, fsync on commit: an alert
    accepted just before a power cut must still be sent afterwards).

    Args:
        path: the database file; created with its schema if missing.
        busy_timeout: seconds to wait for another connection's write lock.
    """

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0) -> None:
        super().__init__(
            path, _SCHEMA, name="notification outbox", busy_timeout=busy_timeout,
            error=OutboxError,
        )

    def add(self, alerts: list[Alert], now: float) -> list[Alert]:
        """Queue the alerts whose key is new; returns those (the others were queued before)."""
        added: list[Alert] = []
        with self._transaction() as db:
            for alert in alerts:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO alert (key, channel, priority, payload, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (alert.key, alert.channel, alert.priority,
                     orjson.dumps(alert.payload).decode(), now),
                )
                if cursor.rowcount:
                    added.append(alert)
        return added

    def next(self, channel: str, *, retries: bool = True) -> Pending | None:
        """The channel's next pending alert: highest priority, fewest attempts, oldest.

        `retries=False` returns only alerts never tried, for a channel that is backing off.
        """
        sql = (
            "SELECT id, key, channel, priority, payload, attempts FROM alert"
            " WHERE channel = ? AND state = 'pending'"
            + ("" if retries else " AND attempts = 0")
            + " ORDER BY priority DESC, attempts, id LIMIT 1"
        )
        with self._reading() as db:
            row = db.execute(sql, (channel,)).fetchone()
        if row is None:
            return None
        alert = Alert(key=row[1], channel=row[2], priority=row[3], payload=orjson.loads(row[4]))
        return Pending(id=row[0], alert=alert, attempts=row[5])

    def mark_sent(self, alert_id: int, now: float) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE alert SET state = 'sent', attempts = attempts + 1, done_at = ?,"
                " last_error = NULL WHERE id = ?",
                (now, alert_id),
            )

    def mark_failed(self, alert_id: int, error: str, *, max_attempts: int, now: float) -> bool:
        """Count a failed attempt; True when that was the last one (the alert is dead)."""
        with self._transaction() as db:
            row = db.execute(
                "UPDATE alert SET attempts = attempts + 1, last_error = ?,"
                " state = CASE WHEN attempts + 1 >= ? THEN 'dead' ELSE state END,"
                " done_at = CASE WHEN attempts + 1 >= ? THEN ? ELSE done_at END"
                " WHERE id = ? RETURNING state",
                (error[:500], max_attempts, max_attempts, now, alert_id),
            ).fetchone()
        return row is not None and row[0] == "dead"

    def counts(self) -> dict[str, int]:
        """Alerts by state: pending, sent, dead."""
        with self._reading() as db:
            rows = db.execute("SELECT state, count(*) FROM alert GROUP BY state").fetchall()
        counts = {"pending": 0, "sent": 0, "dead": 0}
        counts.update(dict(rows))
        return counts
