from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireroom.domain import IncidentState, Severity
from fireroom.errors import StoreError
from services.incidents import (
    EventKind,
    IncidentChange,
    IncidentNotFound,
    IncidentStore,
    InvalidTransition,
)
from tests.services.helpers import FakeClock

SUBJECT = "st/facp-1/L1-SD001"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[IncidentStore]:
    with IncidentStore(tmp_path / "incidents.db", clock) as store:
        yield store


def fire(
    store: IncidentStore, severity: Severity = Severity.CRITICAL, **detail: object
) -> IncidentChange:
    return store.raise_incident(
        site="st",
        rule="fire_alarm",
        subject=SUBJECT,
        severity=severity,
        message="Fire alarm: smoke 1",
        detail=dict(detail),
        device="facp-1",
        point="L1-SD001",
    )


def states(store: IncidentStore, incident_id: int) -> list[tuple[str, str]]:
    return [(e.kind.value, e.state_after.value) for e in store.events(incident_id)]


def test_raise_ack_clear_closes(store: IncidentStore, clock: FakeClock) -> None:
    raised = fire(store)
    assert raised.event is EventKind.RAISED
    incident = raised.incident
    assert incident.state is IncidentState.ACTIVE_UNACKED
    assert incident.raised_at == clock.now()
    assert (incident.device, incident.point, incident.count) == ("facp-1", "L1-SD001", 1)
    clock.advance(5)
    acked = store.acknowledge(incident.id, "alice", "crew dispatched")
    assert acked.incident.state is IncidentState.ACTIVE_ACKED
    assert (acked.incident.acked_by, acked.incident.ack_comment) == ("alice", "crew dispatched")
    assert acked.incident.acked_at == clock.now()
    cleared = store.clear("fire_alarm", SUBJECT)
    assert cleared is not None
    assert cleared.incident.state is IncidentState.CLOSED
    assert states(store, incident.id) == [
        ("raised", "active_unacked"),
        ("acknowledged", "active_acked"),
        ("cleared", "closed"),
    ]
    ack_event = store.events(incident.id)[1]
    assert (ack_event.actor, ack_event.comment, ack_event.at) == (
        "alice",
        "crew dispatched",
        acked.incident.acked_at,
    )


def test_raise_clear_ack_closes(store: IncidentStore) -> None:
    incident = fire(store).incident
    cleared = store.clear("fire_alarm", SUBJECT)
    assert cleared is not None
    assert cleared.incident.state is IncidentState.CLEARED_UNACKED
    assert cleared.incident.cleared_at is not None
    closed = store.acknowledge(incident.id, "bob")
    assert closed.incident.state is IncidentState.CLOSED
    assert store.open_incidents() == []


def test_clear_without_an_active_incident_is_none(store: IncidentStore) -> None:
    assert store.clear("fire_alarm", SUBJECT) is None
    fire(store)
    assert store.clear("fire_alarm", SUBJECT) is not None
    assert store.clear("fire_alarm", SUBJECT) is None


def test_invalid_acknowledgements(store: IncidentStore) -> None:
    incident = fire(store).incident
    with pytest.raises(InvalidTransition, match="who"):
        store.acknowledge(incident.id, "   ")
    store.acknowledge(incident.id, "alice")
    with pytest.raises(InvalidTransition, match="active_acked by alice"):
        store.acknowledge(incident.id, "bob")
    store.clear("fire_alarm", SUBJECT)
    with pytest.raises(InvalidTransition, match="closed"):
        store.acknowledge(incident.id, "bob")
    with pytest.raises(IncidentNotFound):
        store.acknowledge(9999, "bob")
    with pytest.raises(IncidentNotFound):
        store.get(9999)
    assert issubclass(IncidentNotFound, StoreError)


def test_retrigger_counts_instead_of_duplicating(store: IncidentStore) -> None:
    first = fire(store).incident
    assert fire(store).event is None  # already active, nothing new
    store.clear("fire_alarm", SUBJECT)
    again = fire(store)
    assert again.event is EventKind.RETRIGGERED
    assert again.incident.id == first.id
    assert again.incident.count == 2
    assert again.incident.state is IncidentState.ACTIVE_UNACKED
    assert again.incident.cleared_at is None
    assert len(store.list()) == 1
    # Once closed, the next raise opens a new incident.
    store.acknowledge(first.id, "alice")
    store.clear("fire_alarm", SUBJECT)
    assert store.get(first.id).state is IncidentState.CLOSED
    fresh = fire(store)
    assert fresh.event is EventKind.RAISED
    assert fresh.incident.id != first.id


def test_updates_and_escalation(store: IncidentStore) -> None:
    incident = store.raise_incident(
        site="st",
        rule="device_fault",
        subject="st/pump-1/alarms",
        severity=Severity.MAJOR,
        message="fault",
        detail={"flags": ["under_voltage"]},
    ).incident
    store.acknowledge(incident.id, "alice")
    same = store.raise_incident(
        site="st",
        rule="device_fault",
        subject="st/pump-1/alarms",
        severity=Severity.MAJOR,
        message="fault",
        detail={"flags": ["under_voltage"]},
    )
    assert same.event is None
    worse = store.raise_incident(
        site="st",
        rule="device_fault",
        subject="st/pump-1/alarms",
        severity=Severity.CRITICAL,
        message="fault",
        detail={"flags": ["power_loss", "under_voltage"]},
    )
    assert worse.event is EventKind.UPDATED
    assert worse.incident.severity is Severity.CRITICAL
    # An escalation must be acknowledged again.
    assert worse.incident.state is IncidentState.ACTIVE_UNACKED
    milder = store.raise_incident(
        site="st",
        rule="device_fault",
        subject="st/pump-1/alarms",
        severity=Severity.MAJOR,
        message="fault",
        detail={"flags": ["under_voltage"]},
    )
    assert milder.event is EventKind.UPDATED
    assert milder.incident.severity is Severity.CRITICAL  # never drops while open
    assert milder.incident.detail == {"flags": ["under_voltage"]}


def test_one_open_incident_per_rule_and_subject_is_enforced(store: IncidentStore) -> None:
    fire(store)
    db = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(
                "INSERT INTO incident (site, rule, subject, severity, state, message, raised_at,"
                " last_triggered_at) VALUES ('st', 'fire_alarm', ?, 'critical', 'active_unacked',"
                " 'x', 0, 0)",
                (SUBJECT,),
            )
    finally:
        db.close()


def test_event_log_is_append_only(store: IncidentStore) -> None:
    incident = fire(store).incident
    db = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE incident_event SET actor = 'mallory'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM incident_event")
    finally:
        db.close()
    assert len(store.events(incident.id)) == 1


def test_survives_reopen(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "incidents.db"
    with IncidentStore(path, clock) as store:
        incident = fire(store, zone=1).incident
        store.acknowledge(incident.id, "alice", "checking")
    with IncidentStore(path, clock) as store:
        again = store.get(incident.id)
        assert again.state is IncidentState.ACTIVE_ACKED
        assert again.detail == {"zone": 1}
        assert [i.id for i in store.open_incidents()] == [incident.id]
        assert len(store.events(incident.id)) == 2


def test_two_connections_share_the_lifecycle(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "incidents.db"
    with IncidentStore(path, clock) as rules, IncidentStore(path, clock) as api:
        incident = fire(rules).incident
        api.acknowledge(incident.id, "alice")
        cleared = rules.clear("fire_alarm", SUBJECT)
        assert cleared is not None
        # The clear saw the other connection's ack: the incident closes, not cleared_unacked.
        assert cleared.incident.state is IncidentState.CLOSED
        assert api.get(incident.id).state is IncidentState.CLOSED


def test_concurrent_acknowledgements_only_one_wins(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "incidents.db"
    stores = [IncidentStore(path, clock) for _ in range(4)]
    incident = fire(stores[0]).incident
    results: list[str] = []
    barrier = threading.Barrier(len(stores))

    def ack(store: IncidentStore, who: str) -> None:
        barrier.wait()
        try:
            store.acknowledge(incident.id, who)
            results.append("ok")
        except InvalidTransition:
            results.append("conflict")

    threads = [threading.Thread(target=ack, args=(s, f"op{i}")) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    for store in stores:
        store.close()
    assert sorted(results) == ["conflict", "conflict", "conflict", "ok"]


def test_list_filters_and_paging(store: IncidentStore, clock: FakeClock) -> None:
    for n in range(5):
        clock.advance(1)
        store.raise_incident(
            site="st" if n < 4 else "other",
            rule="sensor_failed",
            subject=f"st/ai-1/p{n}",
            severity=Severity.MAJOR,
            message="failed",
            device="ai-1",
        )
    fire(store)
    store.clear("sensor_failed", "st/ai-1/p0")
    assert len(store.list()) == 6
    assert [i.subject for i in store.list(limit=2)] == [SUBJECT, "st/ai-1/p4"]
    assert [i.subject for i in store.list(limit=2, offset=5)] == ["st/ai-1/p0"]
    assert len(store.list(rule="sensor_failed")) == 5
    assert len(store.list(severity=Severity.CRITICAL)) == 1
    assert len(store.list(device="ai-1", site="st")) == 4
    assert len(store.list(state=IncidentState.CLEARED_UNACKED)) == 1
    assert store.count(open_only=True) == 6
    assert store.list(rule="x' OR '1'='1") == []
