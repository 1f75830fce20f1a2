"""The record store's schema: test records are append-only, enforced by the database itself."""

from __future__ import annotations

from typing import Final

__all__ = ["COLUMNS", "EFFECTIVE", "SCHEMA"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS test_record (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    obligation TEXT NOT NULL,
    device TEXT,
    point TEXT,
    subject TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('pass', 'fail', 'void')),
    source TEXT NOT NULL CHECK (source IN ('manual', 'telemetry')),
    performed_at REAL NOT NULL,
    recorded_at REAL NOT NULL,
    performed_by TEXT NOT NULL,
    figures TEXT NOT NULL DEFAULT '{}',
    note TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    corrects INTEGER REFERENCES test_record (id),
    CHECK (result != 'void' OR corrects IS NOT NULL)
);
-- One correction per record: a chain of corrections is followed through the newest.
CREATE UNIQUE INDEX IF NOT EXISTS test_record_one_correction
    ON test_record (corrects) WHERE corrects IS NOT NULL;
CREATE INDEX IF NOT EXISTS test_record_item
    ON test_record (site, obligation, device, point, performed_at);
CREATE INDEX IF NOT EXISTS test_record_performed ON test_record (site, performed_at);
CREATE TRIGGER IF NOT EXISTS test_record_no_update BEFORE UPDATE ON test_record
BEGIN SELECT RAISE(ABORT, 'test_record is append-only: write a correction'); END;
CREATE TRIGGER IF NOT EXISTS test_record_no_delete BEFORE DELETE ON test_record
BEGIN SELECT RAISE(ABORT, 'test_record is append-only: write a correction'); END;
CREATE TABLE IF NOT EXISTS obligation_start (
    site TEXT NOT NULL,
    obligation TEXT NOT NULL,
    subject TEXT NOT NULL,
    started_at REAL NOT NULL,
    PRIMARY KEY (site, obligation, subject)
);
CREATE TRIGGER IF NOT EXISTS obligation_start_no_update BEFORE UPDATE ON obligation_start
BEGIN SELECT RAISE(ABORT, 'obligation_start is append-only'); END;
"""

COLUMNS: Final = (
    "id, site, obligation, device, point, subject, result, source, performed_at, recorded_at, "
    "performed_by, figures, note, detail, corrects"
)

# Applied to `test_record t`: the record counts (a void counts for nothing, and a corrected
# record is replaced by its correction).
EFFECTIVE: Final = (
    "t.result != 'void' AND NOT EXISTS (SELECT 1 FROM test_record c WHERE c.corrects = t.id)"
)
