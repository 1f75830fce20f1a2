"""/handovers: the draft for the shift, signing, acceptance, print and export."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.api.handover_print import render_html
from services.api.routes.duty import DutyDep, Operator
from services.duty import (
    DutyService,
    Handover,
    HandoverConflict,
    HandoverNotFound,
    MissingAcknowledgements,
)
from services.duty.report import local

__all__ = ["router"]

router = APIRouter(prefix="/handovers", tags=["handovers"])
HandoverId = Annotated[int, Path(ge=1, le=2**63 - 1, description="handover id")]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: Notes = ""


class AcceptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: Notes = ""
    acknowledged_incident_ids: Annotated[list[int], Field(max_length=10_000)] = []


def public(handover: Handover, duty: DutyService) -> dict[str, Any]:
    accepted = handover.acceptance
    return {
        "id": handover.id,
        "shift_start": local(handover.shift_start, duty.zone),
        "shift_end": local(handover.shift_end, duty.zone),
        "signed_at": local(handover.signed_at, duty.zone),
        "signed_by": handover.signed_by,
        "notes": handover.notes,
        "accepted_at": None if accepted is None else local(accepted.accepted_at, duty.zone),
        "accepted_by": None if accepted is None else accepted.accepted_by,
        "acceptance_notes": None if accepted is None else accepted.notes,
        "acknowledged_incident_ids": [] if accepted is None else accepted.acknowledged,
        "report": handover.report,
    }


def _get(duty: DutyService, handover_id: int) -> Handover:
    try:
        return duty.handover(handover_id)
    except HandoverNotFound as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("")
def list_handovers(duty: DutyDep) -> dict[str, Any]:
    """Every handover, newest shift first."""
    data = [public(handover, duty) for handover in duty.duty.handovers()]
    return {"data": data, "count": len(data)}


@router.get("/current")
def current(duty: DutyDep) -> dict[str, Any]:
    """The draft report for the current shift, or the one just ended while its handover is due."""
    return duty.draft()


@router.post("", status_code=201, responses={409: {"description": "shift handed over already"}})
def sign(body: SignRequest, duty: DutyDep, user: Operator) -> dict[str, Any]:
    """The outgoing operator signs the handover; the report is frozen as it is now."""
    try:
        return public(duty.sign(user.username, body.notes), duty)
    except HandoverConflict as exc:
        raise HTTPException(409, str(exc)) from exc


@router.get("/export")
def export_all(duty: DutyDep, format: Literal["csv", "json"] = "json") -> Response:
    """Every handover for an inspection, as CSV (one row each) or JSON."""
    return _export([public(handover, duty) for handover in duty.duty.handovers()], format,
                   "handovers")


@router.get("/{handover_id}", responses={404: {"description": "no such handover"}})
def get_handover(handover_id: HandoverId, duty: DutyDep) -> dict[str, Any]:
    return public(_get(duty, handover_id), duty)


@router.post(
    "/{handover_id}/accept",
    responses={
        404: {"description": "no such handover"},
        409: {"description": "accepted already, or the signer tried to accept"},
        422: {"description": "open critical/major incidents not acknowledged (listed)"},
    },
)
def accept(
    handover_id: HandoverId, body: AcceptRequest, duty: DutyDep, user: Operator
) -> dict[str, Any]:
    """The incoming operator accepts, acknowledging each open critical and major incident."""
    try:
        handover = duty.accept(
            handover_id, user.username, body.notes, body.acknowledged_incident_ids
        )
    except HandoverNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except HandoverConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except MissingAcknowledgements as exc:
        raise HTTPException(
            422, {"message": str(exc), "missing_incident_ids": exc.missing}
        ) from exc
    return public(handover, duty)


@router.get("/{handover_id}/print", response_class=HTMLResponse)
def print_handover(handover_id: HandoverId, duty: DutyDep) -> HTMLResponse:
    """The handover as a self-contained printable page (no scripts, no external assets)."""
    return HTMLResponse(render_html(public(_get(duty, handover_id), duty)))


@router.get("/{handover_id}/export")
def export_one(
    handover_id: HandoverId,
    duty: DutyDep,
    format: Annotated[Literal["csv", "json"], Query()] = "json",
) -> Response:
    return _export([public(_get(duty, handover_id), duty)], format, f"handover-{handover_id}")


_CSV_FIELDS = (
    "id", "shift_start", "shift_end", "signed_at", "signed_by", "notes", "accepted_at",
    "accepted_by", "acceptance_notes", "acknowledged_incident_ids", "open_incidents",
    "isolations", "systems_in_manual", "devices_offline", "tests_due", "shelved_supervision",
)


def _export(rows: list[dict[str, Any]], fmt: str, name: str) -> Response:
    if fmt == "json":
        return Response(
            orjson.dumps({"data": rows}),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_FIELDS)
    for row in rows:
        report = row["report"]
        writer.writerow([
            *(row[key] for key in _CSV_FIELDS[:9]),
            " ".join(str(i) for i in row["acknowledged_incident_ids"]),
            *("; ".join(f"#{item.get('id', '')} {item.get('subject', item.get('obligation'))}"
                        f" {item.get('state', '')}" for item in report.get(key, []))
              for key in _CSV_FIELDS[10:]),
        ])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
