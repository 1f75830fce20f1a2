"""Duty records in SQLite (`duty.sqlite3`): check-ins, the duty log and handovers.

Every table is append-only (triggers refuse UPDATE and DELETE): these are the duty log
(值班记录) and handover record (交接班记录) an inspection reads, so none may be rewritten.
A handover and its acceptance are two rows because two people sign at two times.
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from fireroom.errors import StoreError

__all__ = ["Acceptance", "DutyStore", "Handover", "LogEntry", "Presence"]

_TABLES = ("presence", "duty_log", "handover", "handover_acceptance")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS presence (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, username TEXT NOT NULL,
    on_duty INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS duty_log (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, author TEXT,
    text TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS duty_log_kind ON duty_log (kind, at);
CREATE TABLE IF NOT EXISTS handover (
    id INTEGER PRIMARY KEY, shift_start REAL NOT NULL, shift_end REAL NOT NULL UNIQUE,
    signed_at REAL NOT NULL, signed_by TEXT NOT NULL, notes TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS handover_acceptance (
    handover_id INTEGER PRIMARY KEY REFERENCES handover (id), accepted_at REAL NOT NULL,
    accepted_by TEXT NOT NULL, notes TEXT NOT NULL, acknowledged TEXT NOT NULL
);
""" + "".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table}"
    f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;\n"
    for table in _TABLES
    for verb in ("update", "delete")
)


@dataclass(frozen=True, slots=True)
class Presence:
    username: str
    since: float


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    at: float
    kind: str  # "status" (written every 2 h by the duty service) or "note" (by a person)
    author: str | None
    text: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Acceptance:
    accepted_at: float
    accepted_by: str
    notes: str
    acknowledged: list[int]


@dataclass(frozen=True, slots=True)
class Handover:
    id: int
    shift_start: float
    shift_end: float
    signed_at: float
    signed_by: str
    notes: str
    report: dict[str, Any]
    acceptance: Acceptance | None


class DutyStore:
    """Check-ins, the duty log and handovers for one site."""

    def __init__(self, path: Path | str, *, created_at: float) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
            # Shifts that ended before fireroom kept the duty are nobody's overdue handover.
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)",
                (repr(created_at),),
            )
            row = self._db.execute("SELECT value FROM meta WHERE key = 'created_at'").fetchone()
            self.created_at = float(row[0])
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open duty store {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _db_locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise StoreError(f"duty store {self.path}: {exc}") from exc

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> builtins.list[tuple[Any, ...]]:
        with self._db_locked() as db:
            return db.execute(sql, args).fetchall()

    def set_presence(self, username: str, on_duty: bool, at: float) -> None:
        self.execute(
            "INSERT INTO presence (at, username, on_duty) VALUES (?, ?, ?)",
            (at, username, int(on_duty)),
        )

    def on_duty(self) -> builtins.list[Presence]:
        """Who is checked in now: each user's latest presence row says."""
        rows = self.execute(
            "SELECT username, at, on_duty FROM presence p WHERE id ="
            " (SELECT max(id) FROM presence q WHERE q.username = p.username) ORDER BY at"
        )
        return [Presence(row[0], row[1]) for row in rows if row[2]]

    def log(
        self, at: float, kind: str, text: str, author: str | None,
        data: dict[str, Any] | None = None,
    ) -> LogEntry:
        row = self.execute(
            "INSERT INTO duty_log (at, kind, author, text, data) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id",
            (at, kind, author, text, orjson.dumps(data or {}).decode()),
        )[0]
        return LogEntry(row[0], at, kind, author, text, data or {})

    def entries(self, since: float = 0.0, limit: int = 1000) -> builtins.list[LogEntry]:
        rows = self.execute(
            "SELECT id, at, kind, author, text, data FROM duty_log WHERE at >= ?"
            " ORDER BY at, id LIMIT ?",
            (since, limit),
        )
        return [
            LogEntry(row[0], row[1], row[2], row[3], row[4], orjson.loads(row[5]))
            for row in rows
        ]

    def last_status_at(self) -> float | None:
        row = self.execute("SELECT max(at) FROM duty_log WHERE kind = 'status'")[0]
        return None if row[0] is None else float(row[0])

    def sign(  # noqa: PLR0917 - one argument per column of the record
        self, shift_start: float, shift_end: float, at: float, by: str, notes: str,
        report: dict[str, Any],
    ) -> Handover:
        """A new handover; sqlite3.IntegrityError if that shift was handed over already."""
        with self._lock:
            row = self._db.execute(
                "INSERT INTO handover (shift_start, shift_end, signed_at, signed_by, notes,"
                " report) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (shift_start, shift_end, at, by, notes, orjson.dumps(report).decode()),
            ).fetchone()
        return Handover(row[0], shift_start, shift_end, at, by, notes, report, None)

    def accept(self, handover_id: int, at: float, by: str, notes: str, ids: list[int]) -> None:
        """Record the acceptance; sqlite3.IntegrityError if it was accepted already."""
        with self._lock:
            self._db.execute(
                "INSERT INTO handover_acceptance (handover_id, accepted_at, accepted_by, notes,"
                " acknowledged) VALUES (?, ?, ?, ?, ?)",
                (handover_id, at, by, notes, orjson.dumps(sorted(ids)).decode()),
            )

    def handovers(
        self, *, handover_id: int | None = None, shift_end: float | None = None
    ) -> builtins.list[Handover]:
        """Handovers, newest shift first, optionally only one id or one shift."""
        rows = self.execute(
            "SELECT h.id, h.shift_start, h.shift_end, h.signed_at, h.signed_by, h.notes, h.report,"
            " a.accepted_at, a.accepted_by, a.notes, a.acknowledged FROM handover h"
            " LEFT JOIN handover_acceptance a ON a.handover_id = h.id"
            " WHERE (? IS NULL OR h.id = ?) AND (? IS NULL OR h.shift_end = ?)"
            " ORDER BY h.shift_end DESC",
            (handover_id, handover_id, shift_end, shift_end),
        )
        return [
            Handover(
                row[0], row[1], row[2], row[3], row[4], row[5],
                orjson.loads(row[6]),
                None if row[7] is None
                else Acceptance(row[7], row[8], row[9], orjson.loads(row[10])),
            )
            for row in rows
        ]
