"""The outbox on the shared SQLite store base: a failed write is an OutboxError, and the outbox
keeps working once the database is free again."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from services.notify import Alert, Outbox, OutboxError


def alert(key: str) -> Alert:
    return Alert(key=key, channel="hook", priority=9, payload={"event": "raised"})


def test_a_locked_outbox_refuses_then_takes_alerts_again(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, busy_timeout=0.1) as outbox:
        assert outbox.add([alert("a")], 1.0) == [alert("a")]
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")
            with pytest.raises(OutboxError, match="notification outbox"):
                outbox.add([alert("b")], 2.0)
            other.execute("ROLLBACK")
        assert outbox.add([alert("b"), alert("a")], 3.0) == [alert("b")]
        pending = outbox.next("hook")
        assert pending is not None
        outbox.mark_sent(pending.id, 4.0)
        assert outbox.counts() == {"pending": 1, "sent": 1, "dead": 0}
