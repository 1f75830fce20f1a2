"""The SQLite store base: a transaction that fails must not keep the store from writing again."""

from __future__ import annotations

from pathlib import Path

import pytest

from fireroom.errors import StoreError
from fireroom.sqlitestore import SqliteStore

# A deferred foreign key is checked at COMMIT: a real way to make SQLite's COMMIT itself fail,
# as a full disk does.
SCHEMA = """
CREATE TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS child (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED
);
"""


class Store(SqliteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA, name="test store", busy_timeout=1.0)

    def add_child(self, parent_id: int) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO child (parent_id) VALUES (?)", (parent_id,))

    def add_parent(self, parent_id: int) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO parent (id) VALUES (?)", (parent_id,))

    def children(self) -> int:
        with self._reading() as db:
            return int(db.execute("SELECT count(*) FROM child").fetchone()[0])


def test_a_failed_commit_is_rolled_back_and_the_store_writes_again(tmp_path: Path) -> None:
    with Store(tmp_path / "store.sqlite3") as store:
        with pytest.raises(StoreError, match="test store"):
            store.add_child(99)  # no parent 99: COMMIT fails
        store.add_parent(1)
        store.add_child(1)
        assert store.children() == 1
