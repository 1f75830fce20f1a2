"""Incident changes read back from the store's append-only `incident_event` table.

The API tails the table instead of subscribing to MQTT or the rules service, so the console sees
changes written by any process that shares the SQLite file (rules, API, CLI), and a client that
reconnects with `Last-Event-ID` resumes exactly where it left off.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from fireroom.errors import StoreError
from services.incidents.models import iso_time

__all__ = ["EventFeed", "FeedItem"]

_COLUMNS = (
    "e.id, e.kind, e.actor, e.at, i.id, i.site, i.rule, i.subject, i.device, i.point, i.severity,"
    " i.state, i.message, i.detail, i.raised_at, i.last_triggered_at, i.cleared_at, i.acked_at,"
    " i.acked_by, i.ack_comment, i.count,"
    " s.shelved_at, s.until, s.shelved_by, s.reason, s.panel_supervision"
)


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One incident event and the incident as it is now (the board wants the latest state)."""

    event_id: int
    payload: dict[str, Any]


def _payload(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "event": row[1],
        "event_id": row[0],
        "actor": row[2],
        "at": iso_time(row[3]),
        "incident": {
            "id": row[4],
            "site": row[5],
            "rule": row[6],
            "subject": row[7],
            "device": row[8],
            "point": row[9],
            "severity": row[10],
            "state": row[11],
            "message": row[12],
            "detail": orjson.loads(row[13]),
            "raised_at": iso_time(row[14]),
            "last_triggered_at": iso_time(row[15]),
            "cleared_at": iso_time(row[16]),
            "acked_at": iso_time(row[17]),
            "acked_by": row[18],
            "ack_comment": row[19],
            "count": row[20],
            # As GET /incidents gives it: the board tells panel supervision shelved apart.
            "shelf": None if row[21] is None else {
                "shelved_at": iso_time(row[21]),
                "until": iso_time(row[22]),
                "shelved_by": row[23],
                "reason": row[24],
                "panel_supervision": bool(row[25]),
            },
        },
    }


class EventFeed:
    """A read-only connection of its own, so a slow stream never holds the store's lock.

    Args:
        path: the incident store's SQLite file.
        site: only this site's incidents, or every site's when None.
    """

    def __init__(self, path: Path, site: str | None = None) -> None:
        self._site = site
        try:
            self._db = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=5.0
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open incident store {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def last_id(self) -> int:
        """The newest event id: a fresh stream starts after it (the board loads the rest)."""
        try:
            row = self._db.execute("SELECT max(id) FROM incident_event").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"incident events: {exc}") from exc
        return int(row[0] or 0)

    def after(self, event_id: int, limit: int = 500) -> list[FeedItem]:
        """Events newer than `event_id`, oldest first."""
        where = "e.id > ?" + ("" if self._site is None else " AND i.site = ?")
        args: list[Any] = [event_id] if self._site is None else [event_id, self._site]
        try:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM incident_event e JOIN incident i ON i.id = e.incident_id"
                f" LEFT JOIN incident_shelf s ON s.incident_id = i.id"
                f" WHERE {where} ORDER BY e.id LIMIT ?",
                [*args, limit],
            ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"incident events: {exc}") from exc
        return [FeedItem(row[0], _payload(row)) for row in rows]
