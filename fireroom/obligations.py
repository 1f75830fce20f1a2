"""Periodic test obligations: the models of a site config's `obligations:` section, and presets.

A site picks presets (the obligations a regulation sets) and adjusts them:

    obligations:
      presets: [cn-fire-control-room, gb50974]
      roles: {jockey_pump: [jockey-1]}          # what presets mean by "the jockey pump"
      override:
        pump-test-run: {grace: 3d, criteria: {churn_pressure: 0.95}}
        pressure-tank: {enabled: false}
      custom:
        - {id: generator-run, title: Standby generator run, period: monthly, grace: 7d}

`fireroom.obligation_binding.bind_obligations` merges presets, overrides and custom obligations
and binds each to the site's devices.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from fireroom.obligation_presets import PRESET_DATA
from fireroom.points import Role

__all__ = [
    "DAY",
    "REMIND_BEFORE",
    "DeviceRole",
    "EvidenceKind",
    "ObligationPatch",
    "ObligationSpec",
    "ObligationsConfig",
    "Period",
    "PresetName",
    "PumpRunCriteria",
    "RunClass",
    "Selector",
    "preset",
]

DAY = 86400.0
PresetName = Literal["cn-fire-control-room", "gb50974", "gb25201", "nfpa25"]
ObligationId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
DeviceId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
FigureName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}


def _seconds(value: object) -> object:
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("not a duration like 90s, 30m, 12h, 7d or 2w")
        return float(match[1]) * _UNITS[match[2]]
    return value


# Seconds, written as a number or as `30m`, `12h`, `7d`, `2w`.
Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0, le=3660 * DAY)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Period(StrEnum):
    """Calendar periods in the site's time zone; weeks start on Monday."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half-yearly"
    YEARLY = "yearly"


# How long before the due date an obligation shows `due_soon`, unless it sets remind_before.
REMIND_BEFORE: dict[Period, float] = {
    Period.DAILY: 0.25 * DAY,
    Period.WEEKLY: 2 * DAY,
    Period.MONTHLY: 7 * DAY,
    Period.QUARTERLY: 14 * DAY,
    Period.HALF_YEARLY: 30 * DAY,
    Period.YEARLY: 30 * DAY,
}


class EvidenceKind(StrEnum):
    """Where the evidence comes from; every obligation also accepts manual records."""

    MANUAL = "manual"
    PUMP_RUN = "pump_run"  # a pump test run judged against the criteria
    JOCKEY_CYCLE = "jockey_cycle"  # a jockey start and stop, with their pressures
    DETECTOR_TEST = "detector_test"  # a panel point's test mode, per point
    READING = "reading"  # a good reading of each point (a tank level read this month)


class RunClass(StrEnum):
    """What started a pump run, as far as the controller tells."""

    MANUAL = "manual"  # start_cause manual or remote: a person started it
    AUTO_TEST = "auto_test"  # the controller's own test (weekly test bit, start_cause test)
    DEMAND = "demand"  # a real demand (pressure drop, fire)
    UNKNOWN = "unknown"  # the controller reports no start cause


class DeviceRole(StrEnum):
    """What presets call devices; a site binds them under `obligations.roles`."""

    FIRE_PUMP = "fire_pump"  # electric fire, sprinkler and drencher pumps
    DIESEL_PUMP = "diesel_pump"
    JOCKEY_PUMP = "jockey_pump"
    FACP = "facp"


class Selector(_Strict):
    """What an obligation applies to: the site, or devices (and then maybe their points)."""

    site: bool = False
    roles: list[DeviceRole] | None = None
    profile_kind: str | None = None
    devices: list[DeviceId] | None = None
    exclude: list[DeviceId] = []
    point_kinds: list[str] | None = None  # e.g. smoke_detector: one subject per device
    point_roles: list[Role] | None = None  # e.g. level

    @property
    def has_point_filter(self) -> bool:
        return self.point_kinds is not None or self.point_roles is not None

    @model_validator(mode="after")
    def _one_choice(self) -> Self:
        chosen = [
            name for name in ("roles", "profile_kind", "devices") if getattr(self, name) is not None
        ]
        if self.site:
            if chosen or self.has_point_filter or self.exclude:
                raise ValueError("'site: true' stands alone")
            return self
        if len(chosen) > 1:
            raise ValueError(f"give one of roles, profile_kind or devices, not {chosen}")
        if not chosen and not self.has_point_filter:
            raise ValueError(
                "say what it applies to: site, roles, profile_kind, devices, point_kinds or"
                " point_roles"
            )
        return self


class PumpRunCriteria(_Strict):
    """When a pump run counts as a test, and when such a test passes (DOMAIN.md §3)."""

    runs: list[RunClass] = [RunClass.MANUAL, RunClass.UNKNOWN]
    min_run_minutes: Annotated[float, Field(ge=0)] | None = None  # None: 10 electric, 30 diesel
    check_pressure: bool = True
    # MPa. With a churn pressure the peak must reach churn - tolerance; without one the
    # discharge pressure must rise by min_pressure_rise over its value before the start.
    churn_pressure: Annotated[float, Field(gt=0)] | None = None
    pressure_tolerance: Annotated[float, Field(ge=0)] = 0.05
    min_pressure_rise: Annotated[float, Field(ge=0)] = 0.05
    pressure_point: str = "discharge_pressure"
    fail_flags: list[str] = [
        "fail_to_start",
        "phase_reversal",
        "phase_loss_l1",
        "phase_loss_l2",
        "phase_loss_l3",
    ]
    require_auto: bool = True  # the controller must be back in AUTO after the run ...
    auto_within_minutes: Annotated[float, Field(ge=0, le=1440)] = 30  # ... within this


EscalateAfter = Literal["period"] | Duration


class ObligationSpec(_Strict):
    """One obligation: what must be tested, how often, and what counts as evidence."""

    id: ObligationId
    title: str
    source: str = ""  # the regulation, for people reading the status
    period: Period
    grace: Duration = 0.0
    # A missed test is minor, and major once it is this old ("period": when the next period
    # has passed too, plus the grace).
    escalate_after: EscalateAfter = 30 * DAY
    remind_before: Duration | None = None  # None: REMIND_BEFORE[period]
    applies_to: Selector = Selector(site=True)
    evidence: EvidenceKind = EvidenceKind.MANUAL
    criteria: PumpRunCriteria = PumpRunCriteria()
    figures: list[FigureName] = []  # figures a manual record must carry (flow, pressure)

    @model_validator(mode="after")
    def _evidence_fits(self) -> Self:
        selector, kind = self.applies_to, self.evidence
        if "criteria" in self.model_fields_set and kind is not EvidenceKind.PUMP_RUN:
            raise ValueError(f"criteria apply to evidence 'pump_run', not {kind.value!r}")
        if kind in (EvidenceKind.PUMP_RUN, EvidenceKind.JOCKEY_CYCLE) and (
            selector.site or selector.has_point_filter
        ):
            raise ValueError(
                f"evidence {kind.value!r} applies to pump controllers: give roles, profile_kind"
                " or devices, without point filters"
            )
        if (
            kind in (EvidenceKind.DETECTOR_TEST, EvidenceKind.READING)
            and not selector.has_point_filter
        ):
            raise ValueError(f"evidence {kind.value!r} needs point_kinds or point_roles")
        return self

    @property
    def remind(self) -> float:
        return REMIND_BEFORE[self.period] if self.remind_before is None else self.remind_before


class ObligationPatch(_Strict):
    """Changes to a preset obligation; `criteria` merge key by key, the rest replace."""

    enabled: bool = True
    title: str | None = None
    source: str | None = None
    period: Period | None = None
    grace: Duration | None = None
    escalate_after: EscalateAfter | None = None
    remind_before: Duration | None = None
    applies_to: Selector | None = None
    evidence: EvidenceKind | None = None
    criteria: PumpRunCriteria | None = None
    figures: list[FigureName] | None = None


class ObligationsConfig(_Strict):
    presets: list[PresetName] = []
    roles: dict[DeviceRole, list[DeviceId]] = {}
    override: dict[ObligationId, ObligationPatch] = {}
    custom: list[ObligationSpec] = []


@functools.cache
def preset(name: PresetName) -> tuple[ObligationSpec, ...]:
    """A preset's obligations, validated."""
    return tuple(ObligationSpec.model_validate(item) for item in PRESET_DATA[name])
