"""Request and response bodies of the compliance routes: obligations, test records, isolations."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from fireroom.domain import IncidentState, Severity
from services.compliance import EvidenceRecord, Result, Source, State, SubjectStatus
from services.compliance.incidents import incident_subject, local_iso
from services.incidents import Incident, iso_time

__all__ = [
    "CoveragePublic",
    "IsolationPublic",
    "IsolationsPublic",
    "ObligationPublic",
    "ObligationsPublic",
    "RecordCreate",
    "RecordPublic",
    "RecordQuery",
    "RecordsPublic",
    "SubjectPublic",
]

IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


def _named_if_not_finite(value: object) -> object:
    # A 422 echoes the bad input, and JSON cannot carry NaN or infinity: hand on a text that
    # fails as a number and can be echoed.
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} (not a finite number)"
    return value


Figure = Annotated[float, BeforeValidator(_named_if_not_finite), Field(allow_inf_nan=False)]
_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"


class RecordPublic(BaseModel):
    id: int
    obligation: str
    device: str | None
    point: str | None
    subject: str
    result: Result
    source: Source
    performed_at: IsoTime
    recorded_at: IsoTime
    performed_by: str
    figures: dict[str, float]
    note: str
    detail: dict[str, Any]
    corrects: int | None

    @classmethod
    def of(cls, record: EvidenceRecord) -> RecordPublic:
        return cls(
            id=record.id,
            obligation=record.obligation,
            device=record.device,
            point=record.point,
            subject=record.subject,
            result=record.result,
            source=record.source,
            performed_at=str(iso_time(record.performed_at)),
            recorded_at=str(iso_time(record.recorded_at)),
            performed_by=record.performed_by,
            figures=record.figures,
            note=record.note,
            detail=record.detail,
            corrects=record.corrects,
        )


class RecordsPublic(BaseModel):
    data: list[RecordPublic]
    count: int = Field(description="records matching the filters, ignoring limit and offset")
    limit: int
    offset: int


class RecordCreate(BaseModel):
    """A test someone performed. Records are never changed: to fix one, post a new record with
    `corrects` naming it (result `void` withdraws it)."""

    model_config = ConfigDict(extra="forbid")

    obligation: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    device: Annotated[str | None, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] = None
    point: Annotated[str | None, Field(pattern=_NAME)] = None
    result: Result
    performed_at: Annotated[
        datetime, Field(description="when the test was done; without an offset, site time")
    ]
    performed_by: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
    ]
    figures: Annotated[
        dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")], Figure],
        Field(max_length=32, description="measured values, e.g. flow, pressure"),
    ] = {}
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""
    corrects: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None

    def performed_ts(self, zone: ZoneInfo) -> float:
        moment = self.performed_at
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.timestamp()


class RecordQuery(BaseModel):
    """Filters of GET /test-records; every one given must match."""

    obligation: Annotated[str | None, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")] = None
    subject: Annotated[
        str | None,
        Field(
            max_length=200,
            pattern=r"^[A-Za-z0-9_./-]+$",
            description="a device (`pump-1`, with its points) or a point (`facp-1/L1-SD001`)",
        ),
    ] = None
    since: Annotated[
        datetime | None, Field(description="performed at or after; without an offset, site time")
    ] = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0


class CoveragePublic(BaseModel):
    tested: int = Field(description="points with a passing test in the last 12 months")
    total: int
    share: float
    untested: list[str]


class SubjectPublic(BaseModel):
    subject: str = Field(description="the subject of this obligation's incidents")
    device: str | None
    state: State
    due: IsoTime = Field(description="end of the first period without evidence, site time")
    missed: bool = Field(description="due plus grace has passed")
    escalated: bool
    last_evidence: RecordPublic | None
    coverage: CoveragePublic | None = None
    missed_points: list[str] = []
    failed_points: list[str] = []

    @classmethod
    def of(cls, site: str, status: SubjectStatus, zone: ZoneInfo) -> SubjectPublic:
        last = status.last_evidence
        coverage = status.coverage
        return cls(
            subject=incident_subject(site, status.obligation.id, status.target.device),
            device=status.target.device,
            state=status.state,
            due=local_iso(status.due, zone),
            missed=bool(status.missed),
            escalated=any(item.escalated for item in status.missed),
            last_evidence=None if last is None else RecordPublic.of(last),
            coverage=None
            if coverage is None
            else CoveragePublic(
                tested=coverage.tested,
                total=coverage.total,
                share=round(coverage.share, 4),
                untested=list(coverage.untested),
            ),
            missed_points=[item.point for item in status.missed if item.point is not None],
            failed_points=[item.point for item in status.failed if item.point is not None],
        )


class ObligationPublic(BaseModel):
    id: str
    title: str
    source: str
    origin: str = Field(description="the preset it comes from, or custom")
    period: str
    grace_seconds: float
    escalate_after: float | str = Field(description="seconds, or 'period'")
    evidence: str
    figures: list[str] = Field(description="figures a manual record must give")
    state: State = Field(description="the worst of its subjects")
    due: IsoTime = Field(description="the earliest due date of its subjects")
    subjects: list[SubjectPublic]


class ObligationsPublic(BaseModel):
    data: list[ObligationPublic]
    count: int


class IsolationPublic(BaseModel):
    """A point or system disabled (isolated) at the panel, from its open isolation incident."""

    incident_id: int
    subject: str
    device: str | None
    point: str | None
    since: IsoTime
    severity: Severity
    state: IncidentState
    message: str
    acked_by: str | None

    @classmethod
    def of(cls, incident: Incident) -> IsolationPublic:
        return cls(
            incident_id=incident.id,
            subject=incident.subject,
            device=incident.device,
            point=incident.point,
            since=str(iso_time(incident.raised_at)),
            severity=incident.severity,
            state=incident.state,
            message=incident.message,
            acked_by=incident.acked_by,
        )


class IsolationsPublic(BaseModel):
    data: list[IsolationPublic]
    count: int
