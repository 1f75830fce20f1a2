"""Fire alarm control panel model: point states roll up into the system status word and counts."""

from __future__ import annotations

from enum import StrEnum

from fireroom.points import Role
from simulators.devices import SimulatedDevice
from simulators.errors import SimulatorError

__all__ = ["FacpPanel", "PointState"]


class PointState(StrEnum):
    NORMAL = "normal"
    FIRE = "fire"
    PRE_ALARM = "pre_alarm"
    FAULT = "fault"
    DISABLED = "disabled"
    SUPERVISORY = "supervisory"
    TEST = "test"


# Point states that have a bit of the same name in the system status word.
_SYSTEM_BITS = ("fire", "fault", "disabled", "supervisory")


class FacpPanel:
    """Keeps a panel's system status, counts and event counter consistent with its points."""

    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        self.system = next(
            (p.name for p in device.points.values() if p.role is Role.FACP_SYSTEM), None
        )
        self.states: dict[str, PointState] = {
            p.name: PointState.NORMAL
            for p in device.points.values()
            if p.role is Role.FACP_POINT
        }
        self.events = 0
        for name in self.states:
            device.set(name, [PointState.NORMAL.value])
        self._refresh()

    def set_point_state(self, point: str, state: PointState | str) -> None:
        if point not in self.states:
            raise SimulatorError(f"{self.device.id!r} has no panel point {point!r}")
        new = PointState(state)
        if self.states[point] is new:
            return
        self.states[point] = new
        self.device.set(point, [new.value])
        self.events += 1
        self._refresh()

    def _refresh(self) -> None:
        states = set(self.states.values())
        flags = [bit for bit in _SYSTEM_BITS if PointState(bit) in states]
        if states <= {PointState.NORMAL}:
            flags.append("normal")
        if self.system is not None:
            self.device.update(self.system, flags)
        counts = {
            "fire_count": PointState.FIRE,
            "fault_count": PointState.FAULT,
            "disabled_count": PointState.DISABLED,
        }
        values = list(self.states.values())
        for name, state in counts.items():
            if name in self.device.points:
                self.device.update(name, values.count(state))
        if "event_counter" in self.device.points:
            self.device.update("event_counter", self.events)
