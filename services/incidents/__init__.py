"""The incident store: ISA-18.2 alarm lifecycle with an append-only audit trail."""

from services.incidents.models import EventKind, Incident, IncidentChange, IncidentEvent, iso_time
from services.incidents.store import IncidentNotFound, IncidentStore, InvalidTransition

__all__ = [
    "EventKind",
    "Incident",
    "IncidentChange",
    "IncidentEvent",
    "IncidentNotFound",
    "IncidentStore",
    "InvalidTransition",
    "iso_time",
]
