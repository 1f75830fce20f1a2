"""Recording engine transitions in the incident store, shared by the service and simulated runs."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

from fireroom.errors import StoreError
from services.incidents.models import IncidentChange
from services.incidents.store import IncidentStore
from services.rules.transitions import Raise, Transition

__all__ = ["record_transition", "record_transitions"]

log = logging.getLogger("services.rules.service")


def record_transition(
    store: IncidentStore, site_id: str, transition: Transition
) -> IncidentChange | None:
    """Apply one transition; the change if it wrote an event. StoreError when the store fails."""
    if isinstance(transition, Raise):
        change: IncidentChange | None = store.raise_incident(
            site=site_id,
            rule=transition.rule,
            subject=transition.subject,
            severity=transition.severity,
            message=transition.message,
            detail=transition.detail,
            device=transition.device,
            point=transition.point,
        )
    else:
        change = store.clear(transition.rule, transition.subject)
    if change is None or change.event is None:
        return None
    incident = change.incident
    level = logging.WARNING if isinstance(transition, Raise) else logging.INFO
    log.log(
        level,
        "incident %d %s: %s %s [%s, %s] %s",
        incident.id,
        change.event.value,
        incident.rule,
        incident.subject,
        incident.severity.value,
        incident.state.value,
        incident.message,
    )
    return change


def record_transitions(
    store: IncidentStore,
    site_id: str,
    transitions: Iterable[Transition],
    stats: Counter[str] | None = None,
) -> list[IncidentChange]:
    """Apply each transition to the store; return the changes that wrote an event.

    A store failure is logged and counted, and the next transition is still tried: one bad
    write must not keep a fire alarm from being recorded. (The rules service keeps what failed
    and retries it: see pending.py.)
    """
    counts = stats if stats is not None else Counter()
    changes: list[IncidentChange] = []
    for transition in transitions:
        try:
            change = record_transition(store, site_id, transition)
        except StoreError:
            counts["store_errors"] += 1
            log.exception("rules[%s]: could not record %s", site_id, transition)
            continue
        if change is not None:
            counts["changes"] += 1
            changes.append(change)
    return changes
