"""The SQLite file under fireroom's record stores: WAL, two processes, full sync.

Incidents and test records are what an inspector asks for, so every commit is synced to disk
(`synchronous = FULL`); WAL lets the rules process write while the API process reads.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from fireroom.errors import StoreError

__all__ = ["SqliteStore"]


class SqliteStore:
    """One SQLite file with its schema, a lock for callers on worker threads, and transactions
    whose SQLite errors come out as `StoreError` naming the store.

    Args:
        path: the database file; created with `schema` if missing.
        schema: SQL run once at open (CREATE ... IF NOT EXISTS).
        name: what the store is called in error messages ("incident store").
        busy_timeout: seconds to wait for the other process's write lock.
        error: the `StoreError` subclass raised, for a package with its own.
    """

    def __init__(
        self,
        path: Path | str,
        schema: str,
        *,
        name: str,
        busy_timeout: float,
        error: type[StoreError] = StoreError,
    ) -> None:
        self.path = Path(path)
        self._name = name
        self._error = error
        self._lock = threading.Lock()  # the API calls in from worker threads
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript("BEGIN IMMEDIATE;" + schema + "COMMIT;")
        except (sqlite3.Error, OSError) as exc:
            raise error(f"cannot open {name} {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    # A COMMIT that fails (disk full, I/O error, a deferred constraint) leaves
                    # the transaction open; every later BEGIN would fail with it, and nothing,
                    # a fire alarm included, could be stored again once the disk is back.
                    if self._db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._error(f"{self._name} {self.path}: {exc}") from exc

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self._error(f"{self._name} {self.path}: {exc}") from exc
