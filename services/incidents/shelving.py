"""ISA-18.2 shelving: an operator hides an alarm for a bounded time, with who and why.

The incident's state becomes `shelved`; the state it had is kept in `incident_shelf` so it
returns to it when unshelved or when the shelving expires. The rules service keeps raising and
clearing underneath: a clear while shelved sets `cleared_at`, so the incident comes back as
cleared rather than active, and a raise after that clear counts as a re-trigger.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from fireroom.config import Site
from fireroom.points import Role
from services.incidents.sql import COLUMNS

__all__ = [
    "NEVER_SHELVED",
    "PANEL_SUPERVISION",
    "SHELF_CLEAR",
    "SHELF_MIGRATION",
    "SHELF_RETRIGGER",
    "SHELF_SCHEMA",
    "SHELVE",
    "SHELVEABLE",
    "UNSHELVE",
    "Shelf",
    "ShelvingPolicy",
    "shelf_of",
]

# Nothing may silence a fire alarm except someone acknowledging it: a shelved fire alarm is a
# fire nobody is looking at. Nor what says the monitoring itself cannot be trusted
# (monitoring_degraded) or runs outside the standard (nonconforming_configuration): hiding
# those hides that the board may be lying. (Rule ids as in services/rules/transitions.py.)
NEVER_SHELVED: Final = MappingProxyType({
    "fire_alarm": "a fire alarm",
    "monitoring_degraded": "monitoring down (monitoring_degraded)",
    "nonconforming_configuration": "a nonconforming configuration",
})
# Supervision of a fire alarm panel: while shelved, nobody is sure the panel can still report
# a fire, so it may be shelved only for a bounded time (`shelving.panel_supervision_max_seconds`).
PANEL_SUPERVISION: Final = frozenset({"comm_loss", "device_fault", "isolation"})
_PANEL_ROLES: Final = frozenset({Role.FACP_POINT, Role.FACP_SYSTEM})


@dataclass(frozen=True, slots=True)
class ShelvingPolicy:
    """The site's limits on shelving: which devices are fire alarm panels and for how long their
    supervision may be shelved."""

    panels: frozenset[str]
    panel_supervision_max: float  # seconds

    @classmethod
    def of(cls, site: Site) -> ShelvingPolicy:
        panels = frozenset(
            device.id for device in site.config.devices
            if site.profiles[device.profile].kind == "facp"
            or any(point.role in _PANEL_ROLES for point in site.points.get(device.id, []))
        )
        return cls(panels, site.config.shelving.panel_supervision_max_seconds)

    def panel_supervision(self, rule: str, device: str | None) -> bool:
        return rule in PANEL_SUPERVISION and device in self.panels
SHELVEABLE: Final = ("active_unacked", "active_acked", "cleared_unacked")

SHELF_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS incident_shelf (
    incident_id INTEGER PRIMARY KEY REFERENCES incident (id),
    previous_state TEXT NOT NULL,
    shelved_at REAL NOT NULL,
    until REAL NOT NULL,
    shelved_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    panel_supervision INTEGER NOT NULL DEFAULT 0
);
"""
SHELF_MIGRATION: Final = (
    "ALTER TABLE incident_shelf ADD COLUMN panel_supervision INTEGER NOT NULL DEFAULT 0"
)


@dataclass(frozen=True, slots=True)
class Shelf:
    """A shelving in force: when, until when, by whom, why, and whether it is panel supervision."""

    shelved_at: float
    until: float
    shelved_by: str
    reason: str
    panel_supervision: bool


def shelf_of(row: tuple[Any, ...]) -> Shelf:
    return Shelf(row[0], row[1], row[2], row[3], bool(row[4]))

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
