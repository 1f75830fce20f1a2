"""SQLite incident store, shared by the rules service (raise, clear) and the API (ack).

Two processes write the same file, so every transition is one conditional UPDATE whose WHERE and
CASE clauses test the current state inside a `BEGIN IMMEDIATE` transaction: the database, not a
Python read-modify-write, decides whether an ack or a clear still applies. The event log is
append-only and SQLite triggers refuse UPDATE and DELETE on it, so the audit trail cannot be
rewritten through this or any other client.
"""

from __future__ import annotations

import builtins
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from fireroom.clock import Clock, SystemClock
from fireroom.domain import IncidentState, Severity
from fireroom.errors import StoreError
from fireroom.sqlitestore import SqliteStore
from services.incidents.models import EventKind, Incident, IncidentChange, IncidentEvent
from services.incidents.shelving import (
    NEVER_SHELVED,
    SHELF_CLEAR,
    SHELF_MIGRATION,
    SHELF_RETRIGGER,
    SHELF_SCHEMA,
    SHELVE,
    UNSHELVE,
    Shelf,
    ShelvingPolicy,
    shelf_of,
)
from services.incidents.sql import ACK, CLEAR, COLUMNS, OPEN, RETRIGGER, SCHEMA, UPDATE

__all__ = ["IncidentNotFound", "IncidentStore", "InvalidTransition"]


class IncidentNotFound(StoreError):
    """No incident has that id."""


class InvalidTransition(StoreError):
    """The incident's current state does not allow the operation (e.g. acking a closed one)."""


def _json(data: dict[str, Any] | None) -> str:
    # Sorted keys make equal details compare equal as text in the UPDATE's change test.
    return orjson.dumps(data or {}, option=orjson.OPT_SORT_KEYS).decode()


def _incident(row: tuple[Any, ...]) -> Incident:
    return Incident(
        id=row[0],
        site=row[1],
        rule=row[2],
        subject=row[3],
        device=row[4],
        point=row[5],
        severity=Severity(row[6]),
        state=IncidentState(row[7]),
        message=row[8],
        detail=orjson.loads(row[9]),
        raised_at=row[10],
        last_triggered_at=row[11],
        cleared_at=row[12],
        acked_at=row[13],
        acked_by=row[14],
        ack_comment=row[15],
        count=row[16],
    )


class IncidentStore(SqliteStore):
    """Incidents and their event history in one SQLite file (WAL, safe for two processes).

    Args:
        path: the database file; created with its schema if missing.
        clock: where event times come from.
        busy_timeout: seconds to wait for the other process's write lock.
    """

    def __init__(
        self, path: Path | str, clock: Clock | None = None, *, busy_timeout: float = 5.0
    ) -> None:
        super().__init__(
            path, SCHEMA + SHELF_SCHEMA, name="incident store", busy_timeout=busy_timeout
        )
        self._clock = clock or SystemClock()
        with self._transaction() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(incident_shelf)")}
            if "panel_supervision" not in columns:  # a store made before the column
                db.execute(SHELF_MIGRATION)

    def _event(
        self,
        db: sqlite3.Connection,
        incident: Incident,
        kind: EventKind,
        at: float,
        *,
        actor: str | None = None,
        comment: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO incident_event (incident_id, at, kind, actor, comment, state_after, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                incident.id,
                at,
                kind.value,
                actor,
                comment,
                incident.state.value,
                _json(data),
            ),
        )

    def raise_incident(
        self,
        *,
        site: str,
        rule: str,
        subject: str,
        severity: Severity,
        message: str,
        detail: dict[str, Any] | None = None,
        device: str | None = None,
        point: str | None = None,
    ) -> IncidentChange:
        """Open an incident, or re-activate/update the open one for (rule, subject)."""
        now = self._clock.now()
        params: dict[str, str | float] = {
            "rule": rule,
            "subject": subject,
            "severity": severity.value,
            "message": message,
            "detail": _json(detail),
            "now": now,
        }
        data = {"severity": severity.value, "detail": detail or {}}
        with self._transaction() as db:
            for sql, kind in ((RETRIGGER, EventKind.RETRIGGERED), (UPDATE, EventKind.UPDATED)):
                row = db.execute(sql, params).fetchone()
                if row is not None:
                    incident = _incident(row)
                    self._event(db, incident, kind, now, data=data)
                    return IncidentChange(incident, kind)
            row = db.execute(
                f"SELECT {COLUMNS} FROM incident WHERE rule = ? AND subject = ? AND {OPEN}",
                (rule, subject),
            ).fetchone()
            if row is not None:
                again = db.execute(SHELF_RETRIGGER, params).fetchone()
                if again is None:
                    return IncidentChange(_incident(row), None)
                # Raised again after clearing while shelved: it must come back active.
                db.execute(
                    "UPDATE incident_shelf SET previous_state = 'active_unacked'"
                    " WHERE incident_id = ? AND previous_state = 'cleared_unacked'",
                    (again[0],),
                )
                incident = _incident(again)
                self._event(db, incident, EventKind.RETRIGGERED, now, data=data)
                return IncidentChange(incident, EventKind.RETRIGGERED)
            # The partial unique index backs this insert: a concurrent raise cannot duplicate.
            row = db.execute(
                f"INSERT INTO incident (site, rule, subject, device, point, severity, state,"
                f" message, detail, raised_at, last_triggered_at, count)"
                f" VALUES (?, ?, ?, ?, ?, ?, 'active_unacked', ?, ?, ?, ?, 1)"
                f" RETURNING {COLUMNS}",
                (
                    site,
                    rule,
                    subject,
                    device,
                    point,
                    severity.value,
                    message,
                    _json(detail),
                    now,
                    now,
                ),
            ).fetchone()
            incident = _incident(row)
            self._event(db, incident, EventKind.RAISED, now, data=data)
            return IncidentChange(incident, EventKind.RAISED)

    def clear(self, rule: str, subject: str) -> IncidentChange | None:
        """The condition is gone: active incidents become cleared (or closed if acked)."""
        with self._transaction() as db:
            now = self._clock.now()
            args = {"rule": rule, "subject": subject, "now": now}
            row = db.execute(CLEAR, args).fetchone() or db.execute(SHELF_CLEAR, args).fetchone()
            if row is None:
                return None
            incident = _incident(row)
            self._event(db, incident, EventKind.CLEARED, now)
            return IncidentChange(incident, EventKind.CLEARED)

    def acknowledge(self, incident_id: int, by: str, comment: str = "") -> IncidentChange:
        """An operator acknowledges; a cleared incident closes with it."""
        by = by.strip()
        if not by:
            raise InvalidTransition("an acknowledgement needs who acknowledged ('by')")
        with self._transaction() as db:
            now = self._clock.now()
            row = db.execute(
                ACK, {"id": incident_id, "by": by, "comment": comment, "now": now}
            ).fetchone()
            if row is None:
                current = db.execute(
                    "SELECT state, acked_by FROM incident WHERE id = ?", (incident_id,)
                ).fetchone()
                if current is None:
                    raise IncidentNotFound(f"no incident {incident_id}")
                already = f" by {current[1]}" if current[1] else ""
                raise InvalidTransition(
                    f"incident {incident_id} is {current[0]}{already}: nothing to acknowledge"
                )
            incident = _incident(row)
            self._event(db, incident, EventKind.ACKNOWLEDGED, now, actor=by, comment=comment)
            return IncidentChange(incident, EventKind.ACKNOWLEDGED)

    def shelve(
        self, incident_id: int, by: str, reason: str, until: float,
        policy: ShelvingPolicy | None = None,
    ) -> IncidentChange:
        """Hide an incident until `until` (ISA-18.2 shelving); fire alarms and monitoring
        incidents refuse, panel supervision refuses beyond the `policy`'s limit."""
        with self._transaction() as db:
            now = self._clock.now()
            current = db.execute(
                "SELECT rule, state, device FROM incident WHERE id = ?", (incident_id,)
            ).fetchone()
            if current is None:
                raise IncidentNotFound(f"no incident {incident_id}")
            if current[0] in NEVER_SHELVED:
                raise InvalidTransition(
                    f"incident {incident_id} is {NEVER_SHELVED[current[0]]}: nothing may silence"
                    " it without someone acknowledging it, so it cannot be shelved"
                )
            supervision = policy is not None and policy.panel_supervision(current[0], current[2])
            if policy is not None and supervision and until - now > policy.panel_supervision_max:
                limit = policy.panel_supervision_max
                raise InvalidTransition(
                    f"incident {incident_id} is {current[0]} of fire alarm panel {current[2]}:"
                    f" panel supervision may be shelved for at most {limit / 3600:g} h"
                    f" (shelving.panel_supervision_max_seconds = {limit:g}),"
                    f" not {(until - now) / 3600:g} h"
                )
            row = db.execute(SHELVE, {"id": incident_id}).fetchone()
            if row is None:
                raise InvalidTransition(f"incident {incident_id} is {current[1]}: cannot shelve")
            db.execute(
                "INSERT INTO incident_shelf (incident_id, previous_state, shelved_at, until,"
                " shelved_by, reason, panel_supervision) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (incident_id, current[1], now, until, by, reason, int(supervision)),
            )
            incident = _incident(row)
            self._event(db, incident, EventKind.SHELVED, now, actor=by, comment=reason,
                        data={"until": until, "previous_state": current[1],
                              "panel_supervision": supervision})
            return IncidentChange(incident, EventKind.SHELVED)

    def shelves(self, site: str | None = None) -> dict[int, Shelf]:
        """Every shelving in force, by incident id (of `site` only, if given)."""
        where, args = ("", ()) if site is None else (" WHERE i.site = ?", (site,))
        with self._reading() as db:
            rows = db.execute(
                "SELECT s.incident_id, s.shelved_at, s.until, s.shelved_by, s.reason,"
                " s.panel_supervision FROM incident_shelf s JOIN incident i"
                f" ON i.id = s.incident_id{where}", args,
            ).fetchall()
        return {row[0]: shelf_of(row[1:]) for row in rows}

    def unshelve(self, incident_id: int, by: str | None) -> IncidentChange:
        """Back to the state it had (or cleared, if it cleared meanwhile); None `by`: expiry."""
        with self._transaction() as db:
            shelf = db.execute(
                "SELECT previous_state FROM incident_shelf WHERE incident_id = ?", (incident_id,)
            ).fetchone()
            row = None if shelf is None else db.execute(
                UNSHELVE, {"id": incident_id, "previous": shelf[0]}
            ).fetchone()
            if row is None:
                self.get_in(db, incident_id)
                raise InvalidTransition(f"incident {incident_id} is not shelved")
            db.execute("DELETE FROM incident_shelf WHERE incident_id = ?", (incident_id,))
            incident = _incident(row)
            comment = None if by is not None else "shelving expired"
            self._event(db, incident, EventKind.UNSHELVED, self._clock.now(), actor=by,
                        comment=comment)
            return IncidentChange(incident, EventKind.UNSHELVED)

    def expire_shelves(self) -> builtins.list[IncidentChange]:
        """Unshelve every incident whose shelving has run out."""
        with self._reading() as db:
            due = [row[0] for row in db.execute(
                "SELECT incident_id FROM incident_shelf WHERE until <= ?", (self._clock.now(),)
            ).fetchall()]
        changes = []
        for incident_id in due:
            try:
                changes.append(self.unshelve(incident_id, None))
            except InvalidTransition:
                continue  # unshelved by hand meanwhile
        return changes

    @staticmethod
    def get_in(db: sqlite3.Connection, incident_id: int) -> Incident:
        row = db.execute(f"SELECT {COLUMNS} FROM incident WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        return _incident(row)

    def get(self, incident_id: int) -> Incident:
        with self._reading() as db:
            row = db.execute(
                f"SELECT {COLUMNS} FROM incident WHERE id = ?", (incident_id,)
            ).fetchone()
        if row is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        return _incident(row)

    def events(self, incident_id: int) -> builtins.list[IncidentEvent]:
        """The incident's history, oldest first."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT id, incident_id, at, kind, actor, comment, state_after, data"
                " FROM incident_event WHERE incident_id = ? ORDER BY id",
                (incident_id,),
            ).fetchall()
        return [
            IncidentEvent(
                id=row[0],
                incident_id=row[1],
                at=row[2],
                kind=EventKind(row[3]),
                actor=row[4],
                comment=row[5],
                state_after=IncidentState(row[6]),
                data=orjson.loads(row[7]),
            )
            for row in rows
        ]

    def _where(
        self,
        *,
        state: IncidentState | None,
        rule: str | None,
        severity: Severity | None,
        device: str | None,
        site: str | None,
        open_only: bool,
    ) -> tuple[str, builtins.list[Any]]:
        clauses: builtins.list[str] = []
        args: builtins.list[Any] = []
        for column, value in (
            ("state", state),
            ("rule", rule),
            ("severity", severity),
            ("device", device),
            ("site", site),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(str(value))
        if open_only:
            clauses.append(OPEN)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def list(
        self,
        *,
        state: IncidentState | None = None,
        rule: str | None = None,
        severity: Severity | None = None,
        device: str | None = None,
        site: str | None = None,
        open_only: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Incident]:
        """Incidents matching every given filter, newest first."""
        where, args = self._where(
            state=state,
            rule=rule,
            severity=severity,
            device=device,
            site=site,
            open_only=open_only,
        )
        with self._reading() as db:
            rows = db.execute(
                f"SELECT {COLUMNS} FROM incident{where} ORDER BY raised_at DESC, id DESC"
                " LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [_incident(row) for row in rows]

    def count(
        self,
        *,
        state: IncidentState | None = None,
        rule: str | None = None,
        severity: Severity | None = None,
        device: str | None = None,
        site: str | None = None,
        open_only: bool = False,
    ) -> int:
        where, args = self._where(
            state=state,
            rule=rule,
            severity=severity,
            device=device,
            site=site,
            open_only=open_only,
        )
        with self._reading() as db:
            row = db.execute(f"SELECT count(*) FROM incident{where}", args).fetchone()
        return int(row[0])

    def open_incidents(self, site: str | None = None) -> builtins.list[Incident]:
        """Every incident not closed, oldest first (what a restarted rules service resumes)."""
        where, args = self._where(
            state=None, rule=None, severity=None, device=None, site=site, open_only=True
        )
        with self._reading() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM incident{where} ORDER BY id", args).fetchall()
        return [_incident(row) for row in rows]

    def ping(self) -> None:
        """Raise StoreError if the database cannot be read."""
        with self._reading() as db:
            db.execute("SELECT 1 FROM incident LIMIT 1").fetchall()
