"""Duty: check-in, the duty log with 2-hourly status entries, and shift handovers."""

from services.duty.service import (
    DUTY_LOG_GAP,
    HANDOVER_OVERDUE,
    DutyError,
    DutyService,
    HandoverConflict,
    HandoverNotFound,
    MissingAcknowledgements,
)
from services.duty.store import DutyStore, Handover, LogEntry

__all__ = [
    "DUTY_LOG_GAP",
    "HANDOVER_OVERDUE",
    "DutyError",
    "DutyService",
    "DutyStore",
    "Handover",
    "HandoverConflict",
    "HandoverNotFound",
    "LogEntry",
    "MissingAcknowledgements",
]
