"""The isolation register: panel points and systems that are disabled (屏蔽), and since when.

A disabled detector cannot report a fire, so every disablement is an incident (`isolation`,
minor); one that outlives `escalate_after_seconds` (24 h by default) is raised again as major,
the same incident at a higher severity, which asks for a fresh acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass

from fireroom.domain import Severity
from services.rules.plan import PointPlan, Scan
from services.rules.transitions import ISOLATION

__all__ = ["Isolated", "Isolation", "judge", "restored"]


@dataclass(frozen=True, slots=True)
class Isolation:
    """One entry of the isolation register."""

    subject: str
    device: str
    point: str
    label: str
    since: float | None  # message ts of the first disabled reading; None if not yet seen again
    escalated: bool  # raised as major for lasting longer than the escalation limit


@dataclass(slots=True, eq=False)
class Isolated:
    """The isolation state of one disabled point or system."""

    since: float | None
    raised: bool = False
    escalated: bool = False

    def entry(self, plan: PointPlan) -> Isolation:
        return Isolation(
            plan.subject, plan.device, plan.name, plan.label, self.since, self.escalated
        )


def judge(plan: PointPlan, state: Isolated | None, disabled: bool, scan: Scan) -> Isolated | None:
    """Apply one good reading of a point's `disabled` flag; return the point's new state."""
    if not disabled:
        if state is not None and state.raised:
            scan.clear(ISOLATION, plan.subject)
        return None
    ts = scan.ts
    if state is None:
        state = Isolated(ts)
    elif state.since is None:
        state.since = ts
    if ISOLATION not in scan.on:
        return state
    limit = scan.device.rules.isolation.escalate_after_seconds
    long_lived = state.since is not None and ts - state.since >= limit
    if not state.raised or (long_lived and not state.escalated):
        state.raised = True
        state.escalated = long_lived
        if long_lived:
            severity = Severity.MAJOR
            message = f"Isolated for more than {limit / 3600:g} h: {plan.where}"
        else:
            severity = Severity.MINOR
            message = f"Isolated (disabled): {plan.where}"
        scan.raise_(ISOLATION, plan, severity, message, {"since": state.since})
    return state


def restored(since: object) -> Isolated:
    """The state of an isolation incident taken over after a restart."""
    start = float(since) if isinstance(since, (int, float)) else None
    return Isolated(start, raised=True)
