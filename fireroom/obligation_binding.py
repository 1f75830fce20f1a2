"""Binding obligations to a site: presets merged with the site's overrides and own obligations,
each bound to devices (and, for rotations such as detector tests, to their points).

Every problem is reported with its path, e.g. `obligations.override.pump-test-run.grace` or
`obligations.custom[0].applies_to.devices[1]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from fireroom.errors import ConfigError, ConfigProblem
from fireroom.obligations import (
    DeviceRole,
    EvidenceKind,
    ObligationPatch,
    ObligationsConfig,
    ObligationSpec,
    Selector,
    preset,
)
from fireroom.points import PointSpec, Role
from fireroom.validation import problems_from

if TYPE_CHECKING:
    from fireroom.config import Site

__all__ = ["DeviceFacts", "Obligation", "Target", "bind_obligations", "bind_site"]


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What binding needs to know of a device."""

    kind: str  # the profile's kind: facp, pump_controller, ...
    points: Sequence[PointSpec]
    pump_kind: str | None = None  # devices[].pump.kind: main or jockey


@dataclass(frozen=True, slots=True)
class Target:
    """One subject of an obligation: the site (device None) or a device, with its points for
    rotations (each point needs its own evidence)."""

    device: str | None
    points: tuple[str, ...] = ()
    diesel: bool = False

    @property
    def items(self) -> tuple[str | None, ...]:
        """What each needs evidence: the points of a rotation, else the target itself (None)."""
        return self.points or (None,)


@dataclass(frozen=True, slots=True)
class Obligation:
    """An obligation bound to the site: its spec, where it came from and its targets."""

    spec: ObligationSpec
    origin: str  # "preset gb50974" or "custom"
    targets: tuple[Target, ...]

    @property
    def id(self) -> str:
        return self.spec.id

    def target(self, device: str | None) -> Target | None:
        for target in self.targets:
            if target.device == device:
                return target
        return None


def _role_devices(
    config: ObligationsConfig, devices: Mapping[str, DeviceFacts]
) -> dict[DeviceRole, list[str]]:
    explicit = config.roles

    def given(role: DeviceRole, default: list[str]) -> list[str]:
        return list(explicit[role]) if role in explicit else default

    pumps = [d for d, facts in devices.items() if facts.kind == "pump_controller"]
    jockey = given(DeviceRole.JOCKEY_PUMP, [d for d in pumps if devices[d].pump_kind == "jockey"])
    diesel = given(
        DeviceRole.DIESEL_PUMP,
        [d for d, facts in devices.items() if facts.kind == "diesel_pump_controller"],
    )
    fire = given(DeviceRole.FIRE_PUMP, [d for d in pumps if d not in jockey and d not in diesel])
    facp = given(DeviceRole.FACP, [d for d, facts in devices.items() if facts.kind == "facp"])
    return {
        DeviceRole.FIRE_PUMP: fire,
        DeviceRole.DIESEL_PUMP: diesel,
        DeviceRole.JOCKEY_PUMP: jockey,
        DeviceRole.FACP: facp,
    }


class _Binder:
    def __init__(self, config: ObligationsConfig, devices: Mapping[str, DeviceFacts]) -> None:
        self.config = config
        self.devices = devices
        self.problems: list[ConfigProblem] = []
        for role, ids in config.roles.items():
            self._known(ids, f"obligations.roles.{role.value}")
        self.roles = _role_devices(config, devices)
        both = sorted(
            set(self.roles[DeviceRole.JOCKEY_PUMP]) & set(self.roles[DeviceRole.FIRE_PUMP])
        )
        if both:
            self.problems.append(
                ConfigProblem("obligations.roles", f"{both} cannot be both jockey and fire pumps")
            )

    def _known(self, ids: Sequence[str], path: str) -> bool:
        ok = True
        for i, device in enumerate(ids):
            if device not in self.devices:
                self.problems.append(
                    ConfigProblem(f"{path}[{i}]", f"{device!r} is not a device of this site")
                )
                ok = False
        return ok

    def specs(self) -> list[tuple[ObligationSpec, str, str, bool]]:
        """(spec, origin, path, user_given_selector) in order, presets first."""
        merged: dict[str, tuple[ObligationSpec, str, str, bool]] = {}
        for p, name in enumerate(self.config.presets):
            for spec in preset(name):
                merged[spec.id] = (spec, f"preset {name}", f"obligations.presets[{p}]", False)
        for c, spec in enumerate(self.config.custom):
            path = f"obligations.custom[{c}]"
            if spec.id in merged:
                self.problems.append(
                    ConfigProblem(
                        f"{path}.id",
                        f"{spec.id!r} is already defined ({merged[spec.id][1]}): change it"
                        " under obligations.override",
                    )
                )
                continue
            merged[spec.id] = (spec, "custom", path, True)
        for obligation_id, patch in self.config.override.items():
            path = f"obligations.override.{obligation_id}"
            if obligation_id not in merged:
                known = ", ".join(sorted(merged)) or "none"
                self.problems.append(
                    ConfigProblem(path, f"no obligation {obligation_id!r}; known: {known}")
                )
                continue
            if not patch.enabled:
                del merged[obligation_id]
                continue
            spec, origin, _, user = merged[obligation_id]
            patched = self._patch(spec, patch, path)
            if patched is not None:
                merged[obligation_id] = (
                    patched,
                    origin,
                    path,
                    user or "applies_to" in patch.model_fields_set,
                )
        return list(merged.values())

    def _patch(
        self, spec: ObligationSpec, patch: ObligationPatch, path: str
    ) -> ObligationSpec | None:
        data: dict[str, Any] = spec.model_dump(exclude_unset=True)
        given = patch.model_dump(exclude_unset=True, exclude={"enabled"})
        criteria = given.pop("criteria", None)
        data.update(given)
        if criteria is not None:
            data["criteria"] = {**spec.criteria.model_dump(), **criteria}
        elif data.get("evidence") not in (None, EvidenceKind.PUMP_RUN):
            data.pop("criteria", None)  # a pump run made manual drops its run criteria
        try:
            return ObligationSpec.model_validate(data)
        except ValidationError as exc:
            for problem in problems_from(exc, prefix=(path,)):
                # A check across fields: the merged input it quotes is not what the site wrote.
                across = problem.path == path
                message = problem.message.rpartition("Value error, ")[2]
                self.problems.append(ConfigProblem(path, message) if across else problem)
            return None

    def _selected(self, selector: Selector, path: str) -> list[str]:
        if selector.roles is not None:
            chosen = {d for role in selector.roles for d in self.roles[role]}
        elif selector.profile_kind is not None:
            chosen = {d for d, f in self.devices.items() if f.kind == selector.profile_kind}
        elif selector.devices is not None:
            self._known(selector.devices, f"{path}.applies_to.devices")
            chosen = set(selector.devices)
        else:
            chosen = set(self.devices)
        self._known(selector.exclude, f"{path}.applies_to.exclude")
        return [d for d in self.devices if d in chosen and d not in selector.exclude]

    def targets(self, spec: ObligationSpec, path: str) -> tuple[Target, ...]:
        selector = spec.applies_to
        if selector.site:
            return (Target(None),)
        diesel = set(self.roles[DeviceRole.DIESEL_PUMP])
        out: list[Target] = []
        for device in self._selected(selector, path):
            facts = self.devices[device]
            if spec.evidence in (EvidenceKind.PUMP_RUN, EvidenceKind.JOCKEY_CYCLE) and not any(
                p.role is Role.PUMP_RUNNING for p in facts.points
            ):
                self.problems.append(
                    ConfigProblem(
                        f"{path}.applies_to",
                        f"{spec.id}: device {device!r} has no pump_running point",
                    )
                )
                continue
            if not selector.has_point_filter:
                out.append(Target(device, diesel=device in diesel))
                continue
            kinds, roles = selector.point_kinds, selector.point_roles
            points = tuple(
                p.name
                for p in facts.points
                if (kinds is not None and p.kind in kinds)
                or (roles is not None and p.role in roles)
            )
            if points:
                out.append(Target(device, points))
        return tuple(out)


def bind_obligations(
    config: ObligationsConfig, devices: Mapping[str, DeviceFacts]
) -> list[Obligation]:
    """The site's obligations with their targets; raises ConfigError naming every bad path.

    A preset obligation that matches nothing on this site (no diesel pump, say) is left out;
    a site's own obligation or selector that matches nothing is an error.
    """
    binder = _Binder(config, devices)
    obligations: list[Obligation] = []
    for spec, origin, path, user_given in binder.specs():
        known = len(binder.problems)
        targets = binder.targets(spec, path)
        if targets:
            obligations.append(Obligation(spec, origin, targets))
        elif user_given and len(binder.problems) == known:
            binder.problems.append(
                ConfigProblem(f"{path}.applies_to", f"{spec.id}: matches nothing on this site")
            )
    if binder.problems:
        raise ConfigError("", binder.problems)
    return obligations


def bind_site(site: Site) -> list[Obligation]:
    """The obligations of a validated site (its `obligations:` section bound to its devices)."""
    devices = {
        device.id: DeviceFacts(
            kind=site.profile_of(device.id).kind,
            points=site.points.get(device.id, []),
            pump_kind=device.pump.kind if device.pump is not None else None,
        )
        for device in site.config.devices
    }
    return bind_obligations(site.config.obligations, devices)
