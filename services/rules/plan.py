"""What the engine keeps per site, device and point, and the context of one evaluated message.

Plans are built once from the site, so evaluating a reading is one dict lookup and one method
call on the point's plan; points that no rule looks at have no plan at all. Each plan class holds
only the condition state its own rules need: a site's thousands of panel points stay small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from fireroom.config import RulesConfig
from fireroom.domain import Reading, Severity
from services.rules.transitions import Clear, Raise, Transition

if TYPE_CHECKING:
    from services.rules.panel import Panel
    from services.rules.pump import Pump

__all__ = [
    "ON",
    "Active",
    "DevicePlan",
    "Hold",
    "PointPlan",
    "Scan",
    "SiteState",
    "enabled_rules",
]

# The condition signature of an active incident: the flags or reasons behind it (ON when they
# are unknown, as for an incident restored without them). None means no active condition.
# Comparing signatures tells "unchanged" from "updated".
Active = frozenset[str] | None
ON: Final[frozenset[str]] = frozenset({"on"})


@dataclass(slots=True, eq=False)
class PointPlan:
    """A point some rule looks at; subclasses hold their rules' state and judge readings."""

    device: str
    name: str
    subject: str
    label: str

    def observe(self, reading: Reading, scan: Scan) -> None:
        raise NotImplementedError

    def restore(self, rule: str, detail: Mapping[str, Any]) -> bool:
        """Take over an active incident of `rule` on this point; False if it is not ours."""
        return False

    @property
    def where(self) -> str:
        return f"{self.label} ({self.subject})"


@dataclass(slots=True, eq=False)
class Hold:
    """A threshold condition that must last `hold` seconds to raise and clears with hysteresis."""

    since: float | None = None  # message ts when the value first went beyond the limit
    active: bool = False

    def step(self, beyond: bool, back: bool, ts: float, hold: float) -> bool | None:
        """True to raise, False to clear, None when nothing changes.

        `beyond`: the value is past the limit; `back`: it is back past limit and hysteresis.
        """
        if beyond:
            if self.since is None or ts < self.since:
                self.since = ts
            if not self.active and ts - self.since >= hold:
                self.active = True
                return True
            return None
        self.since = None
        if self.active and back:
            self.active = False
            return False
        return None


@dataclass(slots=True, eq=False)
class SiteState:
    """Facts that rules on one device need from others: are the site's pumps all stopped?"""

    # Pump devices running now, and those whose running state is unknown (not yet read, lost).
    running: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)
    # Message ts since which every pump is known to be stopped; None while any runs or is unknown.
    quiet_since: float | None = None
    jockey_starts: int = 0  # starts of jockey pumps seen so far: proof that the pressure moved

    def pump_state(self, device: str, running: bool | None, ts: float) -> None:
        was_quiet = not self.running and not self.unknown
        if running is None:
            self.unknown.add(device)
            self.running.discard(device)
        else:
            self.unknown.discard(device)
            if running:
                self.running.add(device)
            else:
                self.running.discard(device)
        quiet = not self.running and not self.unknown
        if not quiet:
            self.quiet_since = None
        elif not was_quiet or self.quiet_since is None:
            self.quiet_since = ts


@dataclass(slots=True, eq=False)
class DevicePlan:
    id: str
    name: str
    subject: str
    comm_limit: float
    rules: RulesConfig
    on: frozenset[str]  # ids of the rules enabled for this device
    points: dict[str, PointPlan]
    panel: Panel | None = None
    pump: Pump | None = None
    # Points that carry alarms (panel status words, pump alarms and running): while one cannot
    # be read, a fire or a failure behind it would go unseen, so the device is not alive.
    alarm_points: frozenset[str] = frozenset()
    unreadable: set[str] = field(default_factory=set)  # alarm points last read not good
    last_good: float = 0.0  # clock.monotonic() of the last message that showed it alive
    last_heard: float | None = None  # clock.monotonic() of its last message of any kind
    comm_active: bool = False


class Scan:
    """One telemetry message under evaluation: its device, its time and what it decided."""

    __slots__ = ("device", "on", "out", "site", "ts")

    def __init__(self, device: DevicePlan, site: SiteState, ts: float) -> None:
        self.device = device
        self.site = site
        self.ts = ts
        self.on = device.on
        self.out: list[Transition] = []

    def raise_(
        self, rule: str, plan: PointPlan, severity: Severity, message: str, detail: dict[str, Any]
    ) -> None:
        raised = Raise(rule, plan.subject, severity, message, detail, plan.device, plan.name)
        self.out.append(raised)

    def raise_device(
        self, rule: str, severity: Severity, message: str, detail: dict[str, Any]
    ) -> None:
        """Raise on the device itself (`site/device`): a condition no single point shows."""
        device = self.device
        self.out.append(Raise(rule, device.subject, severity, message, detail, device.id, None))

    def clear(self, rule: str, subject: str) -> None:
        self.out.append(Clear(rule, subject))


def enabled_rules(rules: RulesConfig) -> frozenset[str]:
    return frozenset(name for name, rule in rules if rule.enabled)
