"""/duty: check-in and check-out, who is on duty, and the duty log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, StringConstraints

from services.api.auth import require
from services.auth import Permission, User
from services.duty import DutyService, LogEntry
from services.duty.report import local

__all__ = ["DutyDep", "Operator", "router"]

router = APIRouter(prefix="/duty", tags=["duty"])


def get_duty(request: Request) -> DutyService:
    duty: DutyService | None = request.app.state.duty
    if duty is None:
        raise HTTPException(503, "duty and handovers need the site config (start with --config)")
    return duty


DutyDep = Annotated[DutyService, Depends(get_duty)]
Operator = Annotated[User, Depends(require(Permission.OPERATE))]


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class LogEntryPublic(BaseModel):
    id: int
    at: str
    kind: str
    author: str | None
    text: str
    data: dict[str, Any]

    @classmethod
    def of(cls, entry: LogEntry, duty: DutyService) -> LogEntryPublic:
        return cls(
            id=entry.id, at=local(entry.at, duty.zone) or "", kind=entry.kind,
            author=entry.author, text=entry.text, data=entry.data,
        )


class DutyLogPublic(BaseModel):
    data: list[LogEntryPublic]
    count: int


class OnDutyPublic(BaseModel):
    on_duty: list[dict[str, str]]
    min_operators: int


def _on_duty(duty: DutyService) -> OnDutyPublic:
    people = [
        {"username": presence.username, "since": local(presence.since, duty.zone) or ""}
        for presence in duty.duty.on_duty()
    ]
    return OnDutyPublic(on_duty=people, min_operators=duty.shifts.min_operators)


@router.get("")
def on_duty(duty: DutyDep) -> OnDutyPublic:
    """Who is checked in now, and how many a shift needs."""
    return _on_duty(duty)


@router.post("/check-in")
def check_in(duty: DutyDep, user: Operator) -> OnDutyPublic:
    duty.duty.set_presence(user.username, True, duty.clock.now())
    return _on_duty(duty)


@router.post("/check-out")
def check_out(duty: DutyDep, user: Operator) -> OnDutyPublic:
    duty.duty.set_presence(user.username, False, duty.clock.now())
    return _on_duty(duty)


@router.get("/log")
def duty_log(
    duty: DutyDep,
    since: Annotated[datetime | None, Query(description="ISO 8601; site time if no offset")]
    = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> DutyLogPublic:
    """Duty log entries, oldest first: 2-hourly `status` entries and operators' `note`s."""
    start = 0.0
    if since is not None:
        start = (since if since.tzinfo else since.replace(tzinfo=duty.zone)).timestamp()
    data = [LogEntryPublic.of(entry, duty) for entry in duty.duty.entries(start, limit)]
    return DutyLogPublic(data=data, count=len(data))


@router.post("/log", status_code=201)
def write_log(body: NoteCreate, duty: DutyDep, user: Operator) -> LogEntryPublic:
    return LogEntryPublic.of(duty.note(user.username, body.text), duty)
