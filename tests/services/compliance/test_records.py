"""The record store: append-only, corrections instead of edits."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fireroom.clock import SimulatedClock
from fireroom.errors import StoreError
from services.compliance import (
    AlreadyCorrected,
    NewEvidence,
    RecordNotFound,
    RecordStore,
    Result,
    Source,
)

SITE = "rec-site"


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(1_750_000_000.0)


@pytest.fixture
def store(tmp_path: Path, clock: SimulatedClock) -> Iterator[RecordStore]:
    with RecordStore(tmp_path / "compliance.sqlite3", clock) as store:
        yield store


def evidence(
    result: Result = Result.PASS,
    *,
    device: str | None = "pump-1",
    point: str | None = None,
    at: float = 1_749_990_000.0,
    corrects: int | None = None,
) -> NewEvidence:
    return NewEvidence(
        "pump-flow-pressure-test",
        device,
        point,
        result,
        at,
        "inspector",
        figures={"flow": 42.5, "pressure": 0.81},
        note="annual",
        corrects=corrects,
    )


def test_a_record_reads_back_as_written(store: RecordStore, clock: SimulatedClock) -> None:
    record = store.add(SITE, evidence())
    assert store.get(record.id) == record
    assert record.subject == f"{SITE}/pump-1"
    assert record.recorded_at == clock.now()
    assert record.source is Source.MANUAL
    assert record.figures == {"flow": 42.5, "pressure": 0.81}
    with pytest.raises(RecordNotFound):
        store.get(record.id, site="another-site")


def test_no_client_can_change_or_delete_a_record(store: RecordStore, tmp_path: Path) -> None:
    record = store.add(SITE, evidence())
    db = sqlite3.connect(tmp_path / "compliance.sqlite3")
    try:
        for sql in (
            "UPDATE test_record SET result = 'fail' WHERE id = ?",
            "DELETE FROM test_record WHERE id = ?",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(sql, (record.id,))
    finally:
        db.close()
    assert store.get(record.id).result is Result.PASS


def test_corrections_replace_what_they_correct(store: RecordStore) -> None:
    first = store.add(SITE, evidence(at=1_749_000_000.0))
    other = store.add(SITE, evidence(device="pump-2"))
    fixed = store.add(SITE, evidence(Result.FAIL, at=1_749_100_000.0, corrects=first.id))
    assert {r.id for r in store.effective(SITE)} == {other.id, fixed.id}
    with pytest.raises(AlreadyCorrected, match=f"corrected by record {fixed.id}"):
        store.add(SITE, evidence(corrects=first.id))
    withdrawn = store.add(SITE, evidence(Result.VOID, corrects=fixed.id))
    assert {r.id for r in store.effective(SITE)} == {other.id}
    assert store.count(site=SITE) == 4  # everything stays in the history
    assert store.after(SITE, fixed.id) == [withdrawn]
    keys = [("pump-flow-pressure-test", "pump-2", None)]
    assert store.effective(SITE, keys) == [other]


def test_a_correction_must_name_a_record_of_this_site(store: RecordStore) -> None:
    mine = store.add(SITE, evidence())
    with pytest.raises(RecordNotFound):
        store.add(SITE, evidence(corrects=999))
    with pytest.raises(RecordNotFound):
        store.add("another-site", evidence(corrects=mine.id))
    with pytest.raises(StoreError, match="needs 'corrects'"):
        store.add(SITE, evidence(Result.VOID))


def test_filters(store: RecordStore) -> None:
    store.add(SITE, evidence(device="p_1", at=100.0))
    store.add(SITE, evidence(device="p11", at=200.0))
    store.add(SITE, evidence(device="p_1", point="a", at=300.0))
    store.add("another-site", evidence(device="p_1", at=400.0))

    def performed(**filters: Any) -> list[float]:
        return [r.performed_at for r in store.list(site=SITE, **filters)]

    # '_' is no wildcard, and a device's records include its points'.
    assert performed(subject=f"{SITE}/p_1") == [300.0, 100.0]
    assert performed(subject=f"{SITE}/p_1/a") == [300.0]
    assert performed(since=200.0) == [300.0, 200.0]
    assert performed(obligation="other") == []
    assert store.count(site=SITE, subject=f"{SITE}/p_1") == 2
    assert [r.performed_at for r in store.list(site=SITE, limit=1, offset=1)] == [200.0]


def test_tracking_keeps_the_first_time(store: RecordStore) -> None:
    assert store.track(SITE, [("a", "s/x")], 10.0) == {("a", "s/x"): 10.0}
    assert store.track(SITE, [("a", "s/x"), ("b", "s")], 20.0) == {
        ("a", "s/x"): 10.0,
        ("b", "s"): 20.0,
    }
    assert store.starts("another-site") == {}


def test_an_unopenable_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(StoreError, match="cannot open record store"):
        RecordStore(tmp_path / "dir.sqlite3")
