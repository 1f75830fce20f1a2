"""/obligations, /test-records and /isolations: the compliance register and the isolation list.

Obligations and records need the site config (`create_app(..., compliance=...)`); without it
these routes answer 503. The isolation register needs only the incident store.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from fireroom.domain import IncidentState
from fireroom.obligation_binding import Obligation
from services.api.auth import require
from services.api.compliance_schemas import (
    IsolationPublic,
    IsolationsPublic,
    ObligationPublic,
    ObligationsPublic,
    RecordCreate,
    RecordPublic,
    RecordQuery,
    RecordsPublic,
    SubjectPublic,
)
from services.api.deps import SiteScopeDep, StoreDep
from services.auth import Permission, User
from services.compliance import (
    AlreadyCorrected,
    ComplianceRegister,
    NewEvidence,
    RecordNotFound,
    RecordRejected,
    SubjectStatus,
    UnknownObligation,
)
from services.compliance.incidents import local_iso
from services.compliance.status import worst
from services.rules.transitions import ISOLATION  # one open incident per disabled point

__all__ = ["router"]

router = APIRouter(tags=["compliance"])


def get_register(request: Request) -> ComplianceRegister:
    register: ComplianceRegister | None = getattr(request.app.state, "compliance", None)
    if register is None:
        raise HTTPException(503, "test obligations need the site config (start with --config)")
    return register


RegisterDep = Annotated[ComplianceRegister, Depends(get_register)]
ObligationIdPath = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="obligation id")
]
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1, description="test record id")]


def _public(
    register: ComplianceRegister, obligation: Obligation, statuses: list[SubjectStatus]
) -> ObligationPublic:
    spec, zone, site = obligation.spec, register.zone, register.site.id
    mine = [status for status in statuses if status.obligation.id == obligation.id]
    return ObligationPublic(
        id=spec.id,
        title=spec.title,
        source=spec.source,
        origin=obligation.origin,
        period=spec.period.value,
        grace_seconds=spec.grace,
        escalate_after=spec.escalate_after,
        evidence=spec.evidence.value,
        figures=list(spec.figures),
        state=worst(status.state for status in mine),
        due=local_iso(min(status.due for status in mine), zone),
        subjects=[SubjectPublic.of(site, status, zone) for status in mine],
    )


@router.get("/obligations")
def list_obligations(register: RegisterDep) -> ObligationsPublic:
    """Every obligation of the site with its due date, state and last evidence."""
    statuses = register.statuses()
    data = [_public(register, obligation, statuses) for obligation in register.obligations]
    return ObligationsPublic(data=data, count=len(data))


@router.get("/obligations/{obligation_id}", responses={404: {"description": "no such obligation"}})
def get_obligation(obligation_id: ObligationIdPath, register: RegisterDep) -> ObligationPublic:
    try:
        obligation = register.obligation(obligation_id)
    except UnknownObligation as exc:
        raise HTTPException(404, str(exc)) from exc
    return _public(register, obligation, register.statuses(obligation_id))


@router.post(
    "/test-records",
    status_code=201,
    responses={
        404: {"description": "no such obligation, or the corrected record does not exist"},
        409: {"description": "the corrected record was corrected already"},
    },
)
def create_record(
    _engineer: Annotated[User, Depends(require(Permission.RECORD_TESTS))],
    body: RecordCreate,
    register: RegisterDep,
) -> RecordPublic:
    """Record a test a person performed (engineers and above; the audit trail keeps who
    entered it); it cannot be changed afterwards, only corrected."""
    evidence = NewEvidence(
        obligation=body.obligation,
        device=body.device,
        point=body.point,
        result=body.result,
        performed_at=body.performed_ts(register.zone),
        performed_by=body.performed_by,
        figures=body.figures,
        note=body.note,
        corrects=body.corrects,
    )
    try:
        record = register.add(evidence)
    except (UnknownObligation, RecordNotFound) as exc:
        raise HTTPException(404, str(exc)) from exc
    except RecordRejected as exc:
        raise HTTPException(422, str(exc)) from exc
    except AlreadyCorrected as exc:
        raise HTTPException(409, str(exc)) from exc
    return RecordPublic.of(record)


@router.get("/test-records")
def list_records(query: Annotated[RecordQuery, Query()], register: RegisterDep) -> RecordsPublic:
    """Test records matching every filter, the most recently performed first."""
    site = register.site.id
    subject = query.subject
    if subject is not None and subject != site and not subject.startswith(f"{site}/"):
        subject = f"{site}/{subject}"
    since = None
    if query.since is not None:
        moment = query.since
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=register.zone)
        since = moment.timestamp()
    records = register.records.list(
        site=site,
        obligation=query.obligation,
        subject=subject,
        since=since,
        limit=query.limit,
        offset=query.offset,
    )
    total = register.records.count(
        site=site, obligation=query.obligation, subject=subject, since=since
    )
    return RecordsPublic(
        data=[RecordPublic.of(record) for record in records],
        count=total,
        limit=query.limit,
        offset=query.offset,
    )


@router.get("/test-records/{record_id}", responses={404: {"description": "no such record"}})
def get_record(record_id: RecordId, register: RegisterDep) -> RecordPublic:
    try:
        return RecordPublic.of(register.records.get(record_id, register.site.id))
    except RecordNotFound as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/isolations")
def list_isolations(store: StoreDep, site: SiteScopeDep) -> IsolationsPublic:
    """The isolation register: points and systems disabled at a panel now, longest first."""
    incidents = store.list(rule=ISOLATION, site=site, open_only=True, limit=10_000)
    active = (IncidentState.ACTIVE_UNACKED, IncidentState.ACTIVE_ACKED)
    data = [
        IsolationPublic.of(incident)
        for incident in sorted(incidents, key=lambda incident: incident.raised_at)
        if incident.state in active
    ]
    return IsolationsPublic(data=data, count=len(data))
