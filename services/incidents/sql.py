"""The incident store's schema and its state transitions, one conditional statement each.

Each UPDATE tests the current state in its WHERE clause and picks the next state with CASE, so
when the rules service and the API write at once, SQLite serialises them and the second one sees
the first one's result: an ack can never resurrect a closed incident, a clear never undoes an ack.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ACK", "CLEAR", "COLUMNS", "OPEN", "RETRIGGER", "SCHEMA", "UPDATE"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS incident (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    device TEXT,
    point TEXT,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    raised_at REAL NOT NULL,
    last_triggered_at REAL NOT NULL,
    cleared_at REAL,
    acked_at REAL,
    acked_by TEXT,
    ack_comment TEXT,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX IF NOT EXISTS incident_one_open
    ON incident (rule, subject) WHERE state != 'closed';
CREATE INDEX IF NOT EXISTS incident_state ON incident (state);
CREATE INDEX IF NOT EXISTS incident_raised ON incident (raised_at);
CREATE TABLE IF NOT EXISTS incident_event (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incident (id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    comment TEXT,
    state_after TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS incident_event_incident ON incident_event (incident_id, id);
CREATE TRIGGER IF NOT EXISTS incident_event_no_update BEFORE UPDATE ON incident_event
BEGIN SELECT RAISE(ABORT, 'incident_event is append-only'); END;
CREATE TRIGGER IF NOT EXISTS incident_event_no_delete BEFORE DELETE ON incident_event
BEGIN SELECT RAISE(ABORT, 'incident_event is append-only'); END;
"""

COLUMNS: Final = (
    "id, site, rule, subject, device, point, severity, state, message, detail, raised_at, "
    "last_triggered_at, cleared_at, acked_at, acked_by, ack_comment, count"
)
OPEN: Final = "state != 'closed'"


def _rank(expr: str) -> str:
    return (
        f"(CASE {expr} WHEN 'critical' THEN 4 WHEN 'major' THEN 3 WHEN 'minor' THEN 2 ELSE 1 END)"
    )


# A raise on a cleared-unacked incident re-activates it and counts the re-trigger.
RETRIGGER: Final = f"""
UPDATE incident SET
    state = 'active_unacked',
    severity = CASE WHEN {_rank(":severity")} > {_rank("severity")} THEN :severity
                    ELSE severity END,
    message = :message, detail = :detail, last_triggered_at = :now,
    cleared_at = NULL, count = count + 1
WHERE rule = :rule AND subject = :subject AND state = 'cleared_unacked'
RETURNING {COLUMNS}
"""

# A raise on an active incident updates it only if something changed; severity never drops
# while the incident is open, and an escalation needs a fresh acknowledgement.
UPDATE: Final = f"""
UPDATE incident SET
    state = CASE WHEN state = 'active_acked' AND {_rank(":severity")} > {_rank("severity")}
                 THEN 'active_unacked' ELSE state END,
    severity = CASE WHEN {_rank(":severity")} > {_rank("severity")} THEN :severity
                    ELSE severity END,
    message = :message, detail = :detail
WHERE rule = :rule AND subject = :subject AND state IN ('active_unacked', 'active_acked')
  AND ({_rank(":severity")} > {_rank("severity")} OR message != :message OR detail != :detail)
RETURNING {COLUMNS}
"""

CLEAR: Final = f"""
UPDATE incident SET
    state = CASE state WHEN 'active_unacked' THEN 'cleared_unacked' ELSE 'closed' END,
    cleared_at = :now
WHERE rule = :rule AND subject = :subject AND state IN ('active_unacked', 'active_acked')
RETURNING {COLUMNS}
"""

ACK: Final = f"""
UPDATE incident SET
    state = CASE state WHEN 'active_unacked' THEN 'active_acked' ELSE 'closed' END,
    acked_at = :now, acked_by = :by, ack_comment = :comment
WHERE id = :id AND state IN ('active_unacked', 'cleared_unacked')
RETURNING {COLUMNS}
"""
