"""ISA-18.2 shelving: an operator hides an alarm for a bounded time, with who and why.

The incident's state becomes `shelved`; the state it had is kept in `incident_shelf` so it
returns to it when unshelved or when the shelving expires. The rules service keeps raising and
clearing underneath: a clear while shelved sets `cleared_at`, so the incident comes back as
cleared rather than active, and a raise after that clear counts as a re-trigger.
"""

from __future__ import annotations

from typing import Final

from services.incidents.sql import COLUMNS

__all__ = [
    "NEVER_SHELVED",
    "SHELF_CLEAR",
    "SHELF_RETRIGGER",
    "SHELF_SCHEMA",
    "SHELVE",
    "SHELVEABLE",
    "UNSHELVE",
]

# Nothing may silence a fire alarm except someone acknowledging it: a shelved fire alarm is a
# fire nobody is looking at.
NEVER_SHELVED: Final = frozenset({"fire_alarm"})
SHELVEABLE: Final = ("active_unacked", "active_acked", "cleared_unacked")

SHELF_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS incident_shelf (
    incident_id INTEGER PRIMARY KEY REFERENCES incident (id),
    previous_state TEXT NOT NULL,
    shelved_at REAL NOT NULL,
    until REAL NOT NULL,
    shelved_by TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""

SHELVE: Final = f"""
UPDATE incident SET state = 'shelved'
WHERE id = :id AND state IN {SHELVEABLE!r}
RETURNING {COLUMNS}
"""

# An acknowledged alarm that cleared while shelved has nothing left to do: it closes.
UNSHELVE: Final = f"""
UPDATE incident SET state = CASE
    WHEN cleared_at IS NULL THEN :previous
    WHEN :previous = 'active_acked' THEN 'closed'
    ELSE 'cleared_unacked' END
WHERE id = :id AND state = 'shelved'
RETURNING {COLUMNS}
"""

SHELF_CLEAR: Final = f"""
UPDATE incident SET cleared_at = :now
WHERE rule = :rule AND subject = :subject AND state = 'shelved' AND cleared_at IS NULL
RETURNING {COLUMNS}
"""

SHELF_RETRIGGER: Final = f"""
UPDATE incident SET cleared_at = NULL, last_triggered_at = :now, count = count + 1
WHERE rule = :rule AND subject = :subject AND state = 'shelved' AND cleared_at IS NOT NULL
RETURNING {COLUMNS}
"""
