"""Periodic test obligations: evidence from telemetry and people, missed and failed tests."""

from services.compliance.engine import ComplianceEngine
from services.compliance.files import RECORDS_DATABASE, open_engine, open_register
from services.compliance.incidents import (
    COMPLIANCE_RULES,
    FAILED_TEST,
    MISSED_TEST,
    incident_subject,
)
from services.compliance.records import (
    AlreadyCorrected,
    EvidenceRecord,
    NewEvidence,
    RecordNotFound,
    RecordStore,
    Result,
    Source,
)
from services.compliance.register import (
    ComplianceError,
    ComplianceRegister,
    RecordRejected,
    UnknownObligation,
    site_obligations,
)
from services.compliance.status import Coverage, State, SubjectStatus

__all__ = [
    "COMPLIANCE_RULES",
    "FAILED_TEST",
    "MISSED_TEST",
    "RECORDS_DATABASE",
    "AlreadyCorrected",
    "ComplianceEngine",
    "ComplianceError",
    "ComplianceRegister",
    "Coverage",
    "EvidenceRecord",
    "NewEvidence",
    "RecordNotFound",
    "RecordRejected",
    "RecordStore",
    "Result",
    "Source",
    "State",
    "SubjectStatus",
    "UnknownObligation",
    "incident_subject",
    "open_engine",
    "open_register",
    "site_obligations",
]
