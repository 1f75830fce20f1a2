"""The durable buffer: batches of line protocol waiting for InfluxDB, in one SQLite file.

One row per batch (gzip-compressed line protocol, as it will be sent), never a row per point:
a row insert costs the same for 1 or 5,000 points, and a compressed batch is sent as it is, so a
backlog drains without compressing again. WAL mode with `synchronous=NORMAL` survives a killed
process (SIGKILL) with every committed batch; only a power cut can lose the last commits.

The buffer is bounded by the bytes of its batches: when an append would pass the bound, the
oldest batches are dropped and counted. A batch InfluxDB rejects as malformed is moved to the
`rejected` table (bounded too), where an operator can look at it.

Methods block on SQLite: the writer calls them through `asyncio.to_thread`; a lock serializes
callers on different threads.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fireroom.errors import SpoolError

__all__ = ["Batch", "BufferCounts", "DiskBuffer", "Dropped"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL    NOT NULL,
    points  INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    body    BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id    INTEGER NOT NULL,
    created     REAL    NOT NULL,
    rejected_at REAL    NOT NULL,
    points      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    body        BLOB    NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Batch:
    """One stored batch: gzip-compressed line protocol and how many points it holds."""

    id: int
    created: float  # wall-clock time it was stored
    points: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Dropped:
    """What an append pushed out of a full buffer."""

    batches: int
    points: int
    bytes: int


@dataclass(frozen=True, slots=True)
class BufferCounts:
    batches: int
    bytes: int  # compressed bytes of the stored batches
    points: int
    oldest: float | None  # wall-clock time the oldest batch was stored
    rejected_batches: int  # set aside, now in the rejected table
    rejected_bytes: int


class DiskBuffer:
    """A FIFO of batches in a SQLite file, bounded by bytes, dropping the oldest when full.

    Args:
        path: the SQLite file; created with its directory when missing, resumed when present.
        max_bytes: bound on the stored batches' bytes.
        max_rejected_bytes: bound on the set-aside batches; the oldest go first.
        now: wall-clock source for the batches' `created` time.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        max_rejected_bytes: int = 64 * 1024 * 1024,
        now: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        self.path = path
        self.max_bytes = max_bytes
        self.max_rejected_bytes = max_rejected_bytes
        self._now = now
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Keep the WAL file from staying at its high-water mark after a large backlog.
            self._db.execute("PRAGMA journal_size_limit=67108864")
            self._db.executescript(_SCHEMA)
            self._load_counts()
        except (sqlite3.Error, OSError) as exc:
            raise SpoolError(f"cannot open the InfluxDB buffer {path}: {exc}") from exc

    def _load_counts(self) -> None:
        batches, size, points = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(points), 0) FROM batch"
        ).fetchone()
        self._batches: int = batches
        self._bytes: int = size
        self._points: int = points
        self._oldest: float | None = self._first_created()
        rejected, rejected_bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM rejected"
        ).fetchone()
        self._rejected: int = rejected
        self._rejected_bytes: int = rejected_bytes

    def _first_created(self) -> float | None:
        row = self._db.execute("SELECT created FROM batch ORDER BY id LIMIT 1").fetchone()
        return None if row is None else float(row[0])

    def counts(self) -> BufferCounts:
        """Current depth; kept in memory, so this never touches the disk."""
        return BufferCounts(
            self._batches, self._bytes, self._points, self._oldest, self._rejected,
            self._rejected_bytes,
        )

    def append(self, bodies: Iterable[tuple[bytes, int]]) -> Dropped:
        """Store batches (body, points) in one transaction, dropping the oldest to make room."""
        items = list(bodies)
        incoming = sum(len(body) for body, _ in items if len(body) <= self.max_bytes)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    dropped = self._make_room(incoming)
                    created = self._now()
                    # A batch larger than the whole buffer cannot be kept at all.
                    kept = [(body, points) for body, points in items
                            if len(body) <= self.max_bytes]
                    too_big = [(body, points) for body, points in items
                               if len(body) > self.max_bytes]
                    self._db.executemany(
                        "INSERT INTO batch (created, points, bytes, body) VALUES (?, ?, ?, ?)",
                        [(created, points, len(body), body) for body, points in kept],
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    self._load_counts()
                    raise
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot store a batch in {self.path}: {exc}") from exc
            for body, points in kept:
                self._batches += 1
                self._bytes += len(body)
                self._points += points
            if self._oldest is None and kept:
                self._oldest = created
            return Dropped(
                dropped.batches + len(too_big),
                dropped.points + sum(points for _, points in too_big),
                dropped.bytes + sum(len(body) for body, _ in too_big),
            )

    def _make_room(self, incoming: int) -> Dropped:
        excess = self._bytes + incoming - self.max_bytes
        batches = points = size = 0
        while excess > 0 and self._batches > 0:
            rows = self._db.execute(
                "SELECT id, points, bytes FROM batch ORDER BY id LIMIT 256"
            ).fetchall()
            if not rows:
                break
            doomed: list[tuple[int]] = []
            for row_id, row_points, row_bytes in rows:
                if excess <= 0:
                    break
                doomed.append((row_id,))
                excess -= row_bytes
                batches += 1
                points += row_points
                size += row_bytes
                self._batches -= 1
                self._points -= row_points
                self._bytes -= row_bytes
            self._db.executemany("DELETE FROM batch WHERE id = ?", doomed)
        if batches:
            self._oldest = self._first_created()
        return Dropped(batches, points, size)

    def peek(self, limit: int = 1, after: int = 0) -> list[Batch]:
        """The oldest `limit` batches (newer than id `after`), oldest first; they stay until
        `remove` or `reject`."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT id, created, points, body FROM batch WHERE id > ? ORDER BY id"
                    " LIMIT ?", (after, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read {self.path}: {exc}") from exc
        return [Batch(row_id, created, points, body) for row_id, created, points, body in rows]

    def remove(self, batch_id: int) -> bool:
        """Forget a batch InfluxDB took; False if it was already gone (dropped while in flight)."""
        with self._lock:
            try:
                row = self._db.execute(
                    "DELETE FROM batch WHERE id = ? RETURNING points, bytes", (batch_id,)
                ).fetchone()
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot update {self.path}: {exc}") from exc
            if row is None:
                return False
            self._batches -= 1
            self._points -= row[0]
            self._bytes -= row[1]
            self._oldest = self._first_created() if self._batches else None
            return True

    def reject(self, batch: Batch, reason: str) -> bool:
        """Set a batch aside: out of the queue, into the bounded `rejected` table."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    row = self._db.execute(
                        "DELETE FROM batch WHERE id = ? RETURNING points, bytes", (batch.id,)
                    ).fetchone()
                    if row is not None:
                        self._db.execute(
                            "INSERT INTO rejected (batch_id, created, rejected_at, points, bytes,"
                            " reason, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (batch.id, batch.created, self._now(), batch.points, len(batch.body),
                             reason[:2000], batch.body),
                        )
                        self._trim_rejected(len(batch.body))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    self._load_counts()
                    raise
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot set a batch aside in {self.path}: {exc}") from exc
            if row is None:
                return False
            self._batches -= 1
            self._points -= row[0]
            self._bytes -= row[1]
            self._oldest = self._first_created() if self._batches else None
            self._rejected += 1
            self._rejected_bytes += len(batch.body)
            return True

    def _trim_rejected(self, added: int) -> None:
        excess = self._rejected_bytes + added - self.max_rejected_bytes
        rows = self._db.execute("SELECT id, bytes FROM rejected ORDER BY id").fetchall()
        # The newest rejected batch (just inserted) is always kept.
        for row_id, row_bytes in rows[:-1]:
            if excess <= 0:
                break
            self._db.execute("DELETE FROM rejected WHERE id = ?", (row_id,))
            excess -= row_bytes
            self._rejected -= 1
            self._rejected_bytes -= row_bytes

    def rejected(self) -> list[tuple[Batch, str]]:
        """The set-aside batches with the reason InfluxDB gave, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id, created, points, body, reason FROM rejected ORDER BY id"
            ).fetchall()
        return [(Batch(row[0], row[1], row[2], row[3]), row[4]) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
