"""Device profiles: register maps of device models, shared by the gateway and the simulators."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fireroom.errors import ConfigError, ConfigProblem
from fireroom.points import PointSpec, PointTemplate, Table
from fireroom.validation import problems_from

__all__ = ["BUILTIN_PROFILES", "IllegalRange", "Profile", "load_profile", "load_profiles"]

BUILTIN_PROFILES = Path(__file__).resolve().parent.parent / "profiles"


class IllegalRange(BaseModel):
    """Addresses a device model refuses to read (first..last, inclusive): never read across."""

    model_config = ConfigDict(extra="forbid")

    table: Table = Table.HOLDING
    first: Annotated[int, Field(ge=0, le=65535)]
    last: Annotated[int, Field(ge=0, le=65535)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last < self.first:
            raise ValueError(f"last {self.last} is below first {self.first}")
        return self


class Profile(BaseModel):
    """A device model's register map."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: str = ""
    kind: Annotated[str, Field(pattern=r"^[a-z_]+$")]  # facp, pump_controller, analog_module
    points: list[PointSpec] = []
    point_template: PointTemplate | None = None
    illegal: list[IllegalRange] = []

    def point(self, name: str) -> PointSpec:
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(f"profile {self.name!r} has no point {name!r}")


def load_profile(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), [ConfigProblem("", str(exc))]) from exc
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), problems_from(exc)) from exc
    if profile.name != path.stem:
        raise ConfigError(
            str(path), [ConfigProblem("name", f"{profile.name!r} differs from file name")]
        )
    names = [point.name for point in profile.points]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(str(path), [ConfigProblem("points", f"duplicate names {duplicates}")])
    return profile


def load_profiles(directories: Iterable[Path] = (BUILTIN_PROFILES,)) -> dict[str, Profile]:
    """Every `*.yaml` profile in the directories; later directories override earlier ones."""
    profiles: dict[str, Profile] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.yaml")):
            profile = load_profile(path)
            profiles[profile.name] = profile
    return profiles
