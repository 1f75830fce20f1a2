"""Scenarios: a YAML timeline of what happens to a site, and the incidents it must raise.

    name: pump-fail-to-start
    description: ...
    duration: 40            # seconds the scenario needs, expectations included
    steps:
      - {at: 1, device: pump-1, action: pump_fail_to_start, seconds: 20}
      - {at: 2, action: leak, value: 0.05}
    expect:
      - {rule: low_pressure, subject: tower-a/ai-1/main_pressure, state_at_end: active,
         within: 30, after_step: 1}

`within` counts seconds after the step numbered `after_step` (0-based) was applied, or after
`after` seconds from the scenario's start; exactly one of the two is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from fireroom.config import MqttTransport, Site
from fireroom.errors import ConfigProblem
from fireroom.validation import problems_from
from simulators.errors import ScenarioError
from simulators.facp import PointState

__all__ = [
    "MODBUS_ONLY",
    "SCENARIO_DIR",
    "Action",
    "AppliedStep",
    "Expectation",
    "ExpectedRecord",
    "Scenario",
    "Step",
    "load_scenario",
    "parse_scenario",
    "scenario_names",
]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

StepValue = bool | int | float | str | list[str]


class Action(StrEnum):
    SET = "set"  # point to a number, bool, enum label or list of flags
    SET_MILLIAMPS = "set_milliamps"
    SET_ENGINEERING = "set_engineering"  # a transmitter's reading in its unit
    RELEASE = "release"  # hand a point set above back to the behaviour models
    POINT_STATE = "point_state"  # panel point to a PointState
    PUMP_FAIL_TO_START = "pump_fail_to_start"
    LEAK = "leak"  # MPa/s
    SILENT = "silent"  # stop answering requests, or publishing for an MQTT device
    ANSWER = "answer"  # back to normal after silent, exception or delay
    EXCEPTION = "exception"  # answer every request with Modbus exception `code`
    DELAY = "delay"  # answer `seconds` late
    PUMP_RUN = "pump_run"  # run for `seconds`; value: cause (manual, remote or test)
    WEEKLY_TEST = "weekly_test"  # the controller's automatic weekly test run for `seconds`
    PUMP_NO_PRESSURE = "pump_no_pressure"  # the pump turns but builds no pressure
    POINTS_STATE = "points_state"  # several panel `points` to the state in value


# How a Modbus device answers; a device that publishes MQTT can only fall silent and resume.
MODBUS_ONLY = frozenset({Action.EXCEPTION, Action.DELAY})

_NEEDS_POINT = {Action.SET, Action.SET_MILLIAMPS, Action.SET_ENGINEERING, Action.RELEASE,
                Action.POINT_STATE}
_NEEDS_VALUE = {Action.SET, Action.SET_MILLIAMPS, Action.SET_ENGINEERING, Action.POINT_STATE,
                Action.LEAK}
_NUMBER_VALUE = {Action.SET_MILLIAMPS, Action.SET_ENGINEERING, Action.LEAK}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Step(_Strict):
    at: Annotated[float, Field(ge=0)]
    action: Action
    device: str | None = None
    point: str | None = None
    value: StepValue | None = None
    code: Annotated[int, Field(ge=1, le=255)] | None = None
    seconds: Annotated[float, Field(ge=0)] | None = None
    points: list[str] | None = None
    note: str = ""

    @model_validator(mode="after")
    def _complete(self) -> Self:
        action = self.action
        if action is not Action.LEAK and self.device is None:
            raise ValueError(f"action {action.value!r} needs 'device'")
        if action in _NEEDS_POINT and self.point is None:
            raise ValueError(f"action {action.value!r} needs 'point'")
        if action in _NEEDS_VALUE and self.value is None:
            raise ValueError(f"action {action.value!r} needs 'value'")
        if action in _NUMBER_VALUE and (
            isinstance(self.value, bool) or not isinstance(self.value, (int, float))
        ):
            raise ValueError(f"action {action.value!r} needs a number, not {self.value!r}")
        if action is Action.POINT_STATE and self.value not in {s.value for s in PointState}:
            known = ", ".join(s.value for s in PointState)
            raise ValueError(f"{self.value!r} is not a point state ({known})")
        if action is Action.EXCEPTION and self.code is None:
            raise ValueError("action 'exception' needs 'code' (e.g. 6, device busy)")
        if action in (Action.DELAY, Action.PUMP_RUN) and self.seconds is None:
            raise ValueError(f"action {action.value!r} needs 'seconds'")
        if action is Action.PUMP_RUN and self.value not in (None, "manual", "remote", "test"):
            raise ValueError(f"pump_run cause {self.value!r} is not manual, remote or test")
        if action is Action.POINTS_STATE:
            if not self.points:
                raise ValueError("action 'points_state' needs 'points'")
            if self.value not in {s.value for s in PointState}:
                known = ", ".join(s.value for s in PointState)
                raise ValueError(f"{self.value!r} is not a point state ({known})")
        return self


class Expectation(_Strict):
    rule: Annotated[str, Field(pattern=r"^[a-z][a-z_]*$")]
    subject: Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+(/[^/\s]+)?$")]
    state_at_end: Literal["active", "cleared"] = "active"
    within: Annotated[float, Field(gt=0)]
    after_step: Annotated[int, Field(ge=0)] | None = None
    after: Annotated[float, Field(ge=0)] | None = None
    # Raised no earlier than this many seconds after the same anchor (a missed test must not
    # be reported before its grace has ended).
    not_before: Annotated[float, Field(ge=0)] | None = None
    severity_at_end: Literal["critical", "major", "minor", "info"] | None = None

    @model_validator(mode="after")
    def _anchored(self) -> Self:
        if (self.after_step is None) == (self.after is None):
            raise ValueError("give exactly one of 'after_step' and 'after'")
        return self

    def anchor(self, started: float, applied: list[AppliedStep]) -> float:
        """Wall time the expectation counts from."""
        if self.after is not None:
            return started + self.after
        for step in applied:
            if step.index == self.after_step:
                return step.wall
        raise ScenarioError("expect", [ConfigProblem("after_step", "that step was not applied")])

    def deadline(self, started: float, applied: list[AppliedStep]) -> float:
        """Wall time by which the incident must have been raised."""
        return self.anchor(started, applied) + self.within

    def earliest(self, started: float, applied: list[AppliedStep]) -> float | None:
        """Wall time before which the incident must not have been raised, if any."""
        if self.not_before is None:
            return None
        return self.anchor(started, applied) + self.not_before


class ExpectedRecord(_Strict):
    """Test evidence a scenario must leave in the compliance records."""

    obligation: str
    subject: str
    result: Literal["pass", "fail"]
    count: Annotated[int, Field(ge=1)] = 1


class Scenario(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: str = ""
    duration: Annotated[float, Field(gt=0)]
    # Simulated scenarios run on a simulated clock from `start`, in one process and as fast as
    # the engines allow (fireroom.simrun): a month of a site in seconds. `coarse_step` is the
    # longest step taken while nothing moves.
    simulated: bool = False
    start: AwareDatetime | None = None
    coarse_step: Annotated[float, Field(gt=0, le=3600)] = 900.0
    # Simulated scenarios may narrow the site's test obligations to the ones they are about.
    obligations: list[str] | None = None
    steps: list[Step] = []
    expect: list[Expectation] = []
    expect_records: list[ExpectedRecord] = []

    @model_validator(mode="after")
    def _timeline(self) -> Self:
        for i, step in enumerate(self.steps):
            if i and step.at < self.steps[i - 1].at:
                raise ValueError(f"steps[{i}] at {step.at} s comes before steps[{i - 1}]")
            if step.at > self.duration:
                raise ValueError(f"steps[{i}] at {step.at} s is after duration {self.duration}")
        for i, item in enumerate(self.expect):
            if item.after_step is not None and item.after_step >= len(self.steps):
                raise ValueError(f"expect[{i}].after_step {item.after_step} is not a step")
        if self.simulated and self.start is None:
            raise ValueError("a simulated scenario needs 'start' (an ISO time with its offset)")
        if not self.simulated and (self.start is not None or self.obligations is not None):
            raise ValueError("'start' and 'obligations' apply to simulated scenarios only")
        return self

    def check(self, site: Site, source: str = "<scenario>") -> None:
        """Raise ScenarioError unless every step names a device and point the site has and
        suits the device's transport."""
        problems: list[ConfigProblem] = []
        for i, step in enumerate(self.steps):
            if step.device is None:
                continue
            if step.device not in site.points:
                problems.append(ConfigProblem(f"steps[{i}].device", f"no device {step.device!r}"))
                continue
            if step.action in MODBUS_ONLY and isinstance(
                site.device(step.device).transport, MqttTransport
            ):
                problems.append(ConfigProblem(
                    f"steps[{i}].action",
                    f"{step.action.value!r} is a Modbus answer; {step.device!r} publishes MQTT"
                    " (silent and answer apply)",
                ))
            names = {point.name for point in site.points[step.device]}
            if step.point is not None and step.point not in names:
                problems.append(ConfigProblem(
                    f"steps[{i}].point", f"{step.device!r} has no point {step.point!r}"
                ))
            for j, point in enumerate(step.points or ()):
                if point not in names:
                    problems.append(ConfigProblem(
                        f"steps[{i}].points[{j}]", f"{step.device!r} has no point {point!r}"
                    ))
        if problems:
            raise ScenarioError(source, problems)


@dataclass(frozen=True)
class AppliedStep:
    """A step as applied: scenario seconds since start and the wall time (`clock.now()`)."""

    index: int
    step: Step
    at: float
    wall: float


def scenario_names() -> list[str]:
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.yaml"))


def parse_scenario(data: Any, source: str = "<memory>") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(source, [ConfigProblem("", "a scenario is a mapping")])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, problems_from(exc)) from exc


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (`fire-alarm`) or any scenario file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml") and not path.exists():
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            known = ", ".join(scenario_names())
            raise ScenarioError(
                str(name_or_path), [ConfigProblem("", f"no such scenario; shipped: {known}")]
            )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(str(path), [ConfigProblem("", f"cannot read: {exc.strerror}")]) from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), [ConfigProblem("", f"not valid YAML: {exc}")]) from exc
    return parse_scenario(data, source=str(path))
