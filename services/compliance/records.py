"""Test records: evidence that an obligation was met, or a test that failed. Append-only.

Records come from people (through the API) and from telemetry (the compliance engine). Neither
can change or delete one: SQLite triggers refuse UPDATE and DELETE, so a mistake is corrected by
a new record that names the one it `corrects` (result `void` withdraws it). A corrected record
stays in the history but no longer counts. One SQLite file (WAL) beside the incident store,
written by the rules service and the API at once.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from fireroom.clock import Clock, SystemClock
from fireroom.errors import StoreError
from fireroom.sqlitestore import SqliteStore
from services.compliance.sql import COLUMNS, EFFECTIVE, SCHEMA

__all__ = [
    "AUTOMATIC",
    "AlreadyCorrected",
    "EvidenceRecord",
    "NewEvidence",
    "RecordNotFound",
    "RecordStore",
    "Result",
    "Source",
    "subject_of",
]

AUTOMATIC = "fireroom"  # performed_by of records the engine writes from telemetry


class RecordNotFound(StoreError):
    """No record has that id (in this site)."""


class AlreadyCorrected(StoreError):
    """The record was corrected already: correct the correction instead."""


class Result(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    VOID = "void"  # only in a correction: the corrected record should not have been written


class Source(StrEnum):
    MANUAL = "manual"
    TELEMETRY = "telemetry"


def subject_of(site: str, device: str | None, point: str | None) -> str:
    """`site`, `site/device` or `site/device/point`: what a record is about."""
    return "/".join(part for part in (site, device, point) if part)


@dataclass(frozen=True, slots=True)
class NewEvidence:
    """A record to write; `performed_at` is when the test happened, Unix seconds."""

    obligation: str
    device: str | None
    point: str | None
    result: Result
    performed_at: float
    performed_by: str
    source: Source = Source.MANUAL
    figures: dict[str, float] = field(default_factory=dict)
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    corrects: int | None = None


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    id: int
    site: str
    obligation: str
    device: str | None
    point: str | None
    subject: str
    result: Result
    source: Source
    performed_at: float
    recorded_at: float
    performed_by: str
    figures: dict[str, float]
    note: str
    detail: dict[str, Any]
    corrects: int | None

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        return (self.obligation, self.device, self.point)


def _json(data: dict[str, Any]) -> str:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


def _record(row: tuple[Any, ...]) -> EvidenceRecord:
    return EvidenceRecord(
        id=row[0],
        site=row[1],
        obligation=row[2],
        device=row[3],
        point=row[4],
        subject=row[5],
        result=Result(row[6]),
        source=Source(row[7]),
        performed_at=row[8],
        recorded_at=row[9],
        performed_by=row[10],
        figures=orjson.loads(row[11]),
        note=row[12],
        detail=orjson.loads(row[13]),
        corrects=row[14],
    )


class RecordStore(SqliteStore):
    """Test records and the times obligations were first tracked, in one SQLite file.

    Args:
        path: the database file; created with its schema if missing.
        clock: where `recorded_at` comes from.
        busy_timeout: seconds to wait for the other process's write lock.
    """

    def __init__(
        self, path: Path | str, clock: Clock | None = None, *, busy_timeout: float = 5.0
    ) -> None:
        super().__init__(path, SCHEMA, name="record store", busy_timeout=busy_timeout)
        self._clock = clock or SystemClock()

    def add(self, site: str, record: NewEvidence) -> EvidenceRecord:
        """Write a record; a correction must name a record of the same site not yet corrected."""
        if record.result is Result.VOID and record.corrects is None:
            raise StoreError("result 'void' only withdraws a record: it needs 'corrects'")
        with self._transaction() as db:
            if record.corrects is not None:
                row = db.execute(
                    "SELECT (SELECT id FROM test_record WHERE corrects = t.id)"
                    " FROM test_record t WHERE t.id = ? AND t.site = ?",
                    (record.corrects, site),
                ).fetchone()
                if row is None:
                    raise RecordNotFound(f"no test record {record.corrects}")
                if row[0] is not None:
                    raise AlreadyCorrected(
                        f"test record {record.corrects} was corrected by record {row[0]}:"
                        f" correct that one"
                    )
            row = db.execute(
                "INSERT INTO test_record (site, obligation, device, point, subject, result,"
                " source, performed_at, recorded_at, performed_by, figures, note, detail,"
                f" corrects) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}",
                (
                    site,
                    record.obligation,
                    record.device,
                    record.point,
                    subject_of(site, record.device, record.point),
                    record.result.value,
                    record.source.value,
                    record.performed_at,
                    self._clock.now(),
                    record.performed_by,
                    _json(record.figures),
                    record.note,
                    _json(record.detail),
                    record.corrects,
                ),
            ).fetchone()
        return _record(row)

    def get(self, record_id: int, site: str | None = None) -> EvidenceRecord:
        with self._reading() as db:
            row = db.execute(
                f"SELECT {COLUMNS} FROM test_record WHERE id = ?", (record_id,)
            ).fetchone()
        if row is None or (site is not None and row[1] != site):
            raise RecordNotFound(f"no test record {record_id}")
        return _record(row)

    def _where(
        self,
        site: str | None,
        obligation: str | None,
        subject: str | None,
        since: float | None,
    ) -> tuple[str, builtins.list[Any]]:
        clauses: builtins.list[str] = []
        args: builtins.list[Any] = []
        if site is not None:
            clauses.append("site = ?")
            args.append(site)
        if obligation is not None:
            clauses.append("obligation = ?")
            args.append(obligation)
        if subject is not None:
            # A device's records include those of its points; substr, not LIKE: ids hold '_'.
            clauses.append("(subject = ? OR substr(subject, 1, ?) = ?)")
            args.extend((subject, len(subject) + 1, subject + "/"))
        if since is not None:
            clauses.append("performed_at >= ?")
            args.append(since)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def list(
        self,
        *,
        site: str | None = None,
        obligation: str | None = None,
        subject: str | None = None,
        since: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[EvidenceRecord]:
        """Records matching every filter, newest performed first."""
        where, args = self._where(site, obligation, subject, since)
        with self._reading() as db:
            rows = db.execute(
                f"SELECT {COLUMNS} FROM test_record{where}"
                " ORDER BY performed_at DESC, id DESC LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [_record(row) for row in rows]

    def count(
        self,
        *,
        site: str | None = None,
        obligation: str | None = None,
        subject: str | None = None,
        since: float | None = None,
    ) -> int:
        where, args = self._where(site, obligation, subject, since)
        with self._reading() as db:
            row = db.execute(f"SELECT count(*) FROM test_record{where}", args).fetchone()
        return int(row[0])

    def after(self, site: str, record_id: int) -> builtins.list[EvidenceRecord]:
        """Records written after `record_id`, oldest first: what another process added."""
        with self._reading() as db:
            rows = db.execute(
                f"SELECT {COLUMNS} FROM test_record WHERE site = ? AND id > ? ORDER BY id",
                (site, record_id),
            ).fetchall()
        return [_record(row) for row in rows]

    def effective(
        self, site: str, keys: Iterable[tuple[str, str | None, str | None]] | None = None
    ) -> builtins.list[EvidenceRecord]:
        """Records that count: not voids and not corrected; all, or those of some items."""
        with self._reading() as db:
            if keys is None:
                rows = db.execute(
                    f"SELECT {COLUMNS} FROM test_record t WHERE site = ? AND {EFFECTIVE}",
                    (site,),
                ).fetchall()
            else:
                rows = []
                for obligation, device, point in keys:
                    rows.extend(
                        db.execute(
                            f"SELECT {COLUMNS} FROM test_record t WHERE site = ? AND"
                            " obligation = ? AND device IS ? AND point IS ? AND"
                            f" {EFFECTIVE}",
                            (site, obligation, device, point),
                        ).fetchall()
                    )
        return [_record(row) for row in rows]

    def last_id(self, site: str) -> int:
        with self._reading() as db:
            row = db.execute(
                "SELECT coalesce(max(id), 0) FROM test_record WHERE site = ?", (site,)
            ).fetchone()
        return int(row[0])

    def track(
        self, site: str, subjects: Iterable[tuple[str, str]], now: float
    ) -> dict[tuple[str, str], float]:
        """When each (obligation, subject) was first tracked: `now` for new ones.

        An obligation never tested is due at the end of the period it was first tracked in, so
        that time must survive restarts.
        """
        wanted = builtins.list(subjects)
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO obligation_start (site, obligation, subject, started_at)"
                " VALUES (?, ?, ?, ?)",
                [(site, obligation, subject, now) for obligation, subject in wanted],
            )
        return self.starts(site)

    def starts(self, site: str) -> dict[tuple[str, str], float]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT obligation, subject, started_at FROM obligation_start WHERE site = ?",
                (site,),
            ).fetchall()
        return {(row[0], row[1]): row[2] for row in rows}

    def ping(self) -> None:
        with self._reading() as db:
            db.execute("SELECT 1 FROM test_record LIMIT 1").fetchall()
