"""Where each obligation stands: due date, state and last evidence, from its records. Pure.

Each item (a pump, a detector, the site) needs a passing record in every calendar period, from
the period it was first tracked in. Records are taken in time order: one made in a period, or
late within the grace after it, covers the earliest period not yet covered; one made after that
grace leaves the period missed and covers the period it falls in. Tracking that begins part-way
through a period (a site started on a Thursday) cannot know of a test made earlier in it: that
partial period is owed only together with the next one, unless a pass falls in it. The due date
is the end of the first period not covered:

    due - remind_before   due_soon
    due                   overdue (within grace, a late test still covers the period)
    due + grace           missed: a missed_test incident, minor
    + escalate_after      major (or "period": when the next period has passed too, plus grace)

An item whose latest record is a fail is `failed` whatever its dates say.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from fireroom.obligation_binding import Obligation, Target
from fireroom.obligations import ObligationSpec
from services.compliance.periods import period_end, period_start
from services.compliance.records import EvidenceRecord, Result

__all__ = [
    "Coverage",
    "ItemKey",
    "ItemStatus",
    "Latest",
    "State",
    "SubjectStatus",
    "Timeline",
    "latest_by_item",
    "subject_status",
    "timeline",
]

ItemKey = tuple[str, str | None, str | None]  # (obligation, device, point)


class State(StrEnum):
    OK = "ok"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    FAILED = "failed"


_RANK = {State.OK: 0, State.DUE_SOON: 1, State.OVERDUE: 2, State.FAILED: 3}


def _newer(record: EvidenceRecord, than: EvidenceRecord | None) -> bool:
    return than is None or (record.performed_at, record.id) > (than.performed_at, than.id)


@dataclass(frozen=True, slots=True)
class Latest:
    """An item's records that count: when each pass was made, the latest pass, the latest of
    any result."""

    passes: tuple[float, ...] = ()  # performed_at of every pass, in order
    passed: EvidenceRecord | None = None
    last: EvidenceRecord | None = None

    def adding(self, record: EvidenceRecord) -> Latest:
        passes, passed = self.passes, self.passed
        if record.result is Result.PASS:
            at = bisect.bisect_right(passes, record.performed_at)
            passes = (*passes[:at], record.performed_at, *passes[at:])
            if _newer(record, passed):
                passed = record
        last = record if _newer(record, self.last) else self.last
        return Latest(passes, passed, last)


def latest_by_item(records: Iterable[EvidenceRecord]) -> dict[ItemKey, Latest]:
    """Latest records per item; `records` must be the effective ones (no voids, no corrected)."""
    out: dict[ItemKey, Latest] = {}
    for record in records:
        if record.result is not Result.VOID:
            out[record.key] = out.get(record.key, Latest()).adding(record)
    return out


@dataclass(frozen=True, slots=True)
class Timeline:
    """An item's dates; fixed until its records change.

    `open_from` starts the first period not covered: a pass before it covers nothing new.
    """

    open_from: float
    remind_at: float
    due: float
    missed_at: float
    escalate_at: float


def timeline(
    spec: ObligationSpec, passes: Sequence[float], tracked_since: float, zone: ZoneInfo
) -> Timeline:
    """Dates from the times of an item's passing records (sorted) and when tracking began."""
    period, grace = spec.period, spec.grace
    start = period_start(tracked_since, period, zone)
    due = period_end(start, period, zone)
    if tracked_since > start and not any(start <= at < due for at in passes):
        # The week's test may have been made on Monday, before monitoring began on Thursday:
        # calling that week missed would be a false alarm, so it runs on into the next one.
        due = period_end(due, period, zone)
    for at in passes:
        if at < start:
            continue  # that period is covered already (or lies before tracking began)
        if at < due + grace:
            start, due = due, period_end(due, period, zone)
        else:  # the open period was missed; this pass covers its own period
            start = period_end(at, period, zone)
            due = period_end(start, period, zone)
    missed_at = due + grace
    if spec.escalate_after == "period":
        escalate_at = period_end(due, period, zone) + grace
    else:
        escalate_at = missed_at + spec.escalate_after
    return Timeline(start, due - spec.remind, due, missed_at, escalate_at)


@dataclass(frozen=True, slots=True)
class ItemStatus:
    point: str | None
    state: State
    timeline: Timeline
    latest: Latest
    missed: bool
    escalated: bool


def item_status(timeline: Timeline, latest: Latest, point: str | None, now: float) -> ItemStatus:
    if latest.last is not None and latest.last.result is Result.FAIL:
        state = State.FAILED
    elif now >= timeline.due:
        state = State.OVERDUE
    elif now >= timeline.remind_at:
        state = State.DUE_SOON
    else:
        state = State.OK
    return ItemStatus(
        point=point,
        state=state,
        timeline=timeline,
        latest=latest,
        missed=now >= timeline.missed_at,
        escalated=now >= timeline.escalate_at,
    )


@dataclass(frozen=True, slots=True)
class Coverage:
    """For rotations: the points tested in the last 12 months."""

    tested: int
    total: int
    untested: tuple[str, ...]

    @property
    def share(self) -> float:
        return self.tested / self.total if self.total else 1.0


def year_before(now: float, zone: ZoneInfo) -> float:
    local = datetime.fromtimestamp(now, zone)
    day = 28 if (local.month, local.day) == (2, 29) else local.day
    return local.replace(year=local.year - 1, day=day).timestamp()


@dataclass(frozen=True, slots=True)
class SubjectStatus:
    """One target of an obligation: its items' status rolled up (worst state, earliest due)."""

    obligation: Obligation
    target: Target
    items: tuple[ItemStatus, ...]
    coverage: Coverage | None

    @property
    def state(self) -> State:
        return max((item.state for item in self.items), key=_RANK.__getitem__)

    @property
    def due(self) -> float:
        return min(item.timeline.due for item in self.items)

    @property
    def last_evidence(self) -> EvidenceRecord | None:
        best: EvidenceRecord | None = None
        for item in self.items:
            passed = item.latest.passed
            if passed is not None and _newer(passed, best):
                best = passed
        return best

    @property
    def missed(self) -> tuple[ItemStatus, ...]:
        return tuple(item for item in self.items if item.missed)

    @property
    def failed(self) -> tuple[ItemStatus, ...]:
        return tuple(item for item in self.items if item.state is State.FAILED)


def subject_status(
    obligation: Obligation,
    target: Target,
    *,
    timelines: Mapping[str | None, Timeline],
    latest: Mapping[ItemKey, Latest],
    now: float,
    zone: ZoneInfo,
) -> SubjectStatus:
    """The status of `target` at `now`; `timelines` per item (point, or None)."""
    items = tuple(
        item_status(
            timelines[point],
            latest.get((obligation.id, target.device, point), Latest()),
            point,
            now,
        )
        for point in target.items
    )
    coverage = None
    if target.points:
        since = year_before(now, zone)
        untested = tuple(
            item.point
            for item in items
            if item.point is not None
            and (item.latest.passed is None or item.latest.passed.performed_at < since)
        )
        coverage = Coverage(len(items) - len(untested), len(items), untested)
    return SubjectStatus(obligation, target, items, coverage)


def worst(states: Iterable[State]) -> State:
    return max(states, key=_RANK.__getitem__, default=State.OK)
