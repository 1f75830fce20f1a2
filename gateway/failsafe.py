"""How soon a device that stopped answering, or refuses a block, is asked again.

GB 25506 gives a fire alarm 10 s to reach the monitoring centre. A panel that was lost, busy
or refusing a block may hold a fire when it answers again, so a device with fire-alarm points
is asked again at least every `max(poll_interval, PROMPT_SECONDS)`; other devices keep the
gentler backoffs that spare a struggling device and its network. A refused block is asked
again within half the device's comm-loss window, so a block that comes back (a panel done
booting) is read before the rules would call the device lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from fireroom.config import DeviceConfig, Site
from fireroom.points import PointSpec, Role

__all__ = [
    "ALARM_ROLES",
    "FIRE_ROLES",
    "LOST_CAP_SECONDS",
    "LOST_CODES",
    "PROMPT_SECONDS",
    "REPROBE_SECONDS",
    "RetryPolicy",
    "alarm_bearing",
    "retry_policy",
]

FIRE_ROLES = frozenset({Role.FACP_POINT, Role.FACP_SYSTEM})
# Points whose change the rules must not miss: their device's telemetry goes at QoS 1.
ALARM_ROLES = FIRE_ROLES | {
    Role.PUMP_ALARMS, Role.PUMP_RUNNING, Role.PUMP_DEMAND, Role.PUMP_START,
}
PROMPT_SECONDS = 2.0
# Exception codes a serial-to-TCP gateway answers for the device behind it: that device is as
# lost as one that timed out, whatever the gateway itself still answers.
LOST_CODES = {10: "gateway path unavailable", 11: "gateway target device failed to respond"}
LOST_CAP_SECONDS = 30.0
REPROBE_SECONDS = 600.0  # the longest a refused block waits (firmware may change)
_BUSY_CAP_INTERVALS = 30


def alarm_bearing(points: Iterable[PointSpec]) -> bool:
    """Whether any of `points` carries an alarm the rules act on."""
    return any(point.role in ALARM_ROLES for point in points)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """One device's retry intervals; the defaults are those of a device without fire points.

    Args:
        poll_interval: the device's scan interval.
        fire_points: names of its facp_point and facp_system points.
        comm_loss_window: seconds after which the rules call an unreadable device lost.
    """

    poll_interval: float = 1.0
    fire_points: frozenset[str] = field(default_factory=frozenset)
    comm_loss_window: float | None = None

    @property
    def prompt(self) -> float:
        return max(self.poll_interval, PROMPT_SECONDS)

    @property
    def lost_cap(self) -> float:
        """The longest wait between reconnect attempts to a lost device."""
        return self.prompt if self.fire_points else LOST_CAP_SECONDS

    @property
    def busy_cap(self) -> float:
        """The longest wait after a "busy" answer."""
        gentle = _BUSY_CAP_INTERVALS * self.poll_interval
        return min(gentle, self.prompt) if self.fire_points else gentle

    def reprobe(self, points: Iterable[str]) -> float:
        """Seconds until a refused block holding `points` is asked again."""
        wait = REPROBE_SECONDS
        if self.comm_loss_window is not None:
            wait = min(wait, self.comm_loss_window / 2)
        if not self.fire_points.isdisjoint(points):
            wait = min(wait, self.prompt)
        return max(wait, self.poll_interval)


def retry_policy(site: Site, device: DeviceConfig) -> RetryPolicy:
    """The retry policy of a site's device, from its points' roles and its comm-loss rule."""
    points = site.points.get(device.id, [])
    rule = site.rules_for(device.id).comm_loss
    return RetryPolicy(
        poll_interval=device.poll_interval,
        fire_points=frozenset(point.name for point in points if point.role in FIRE_ROLES),
        comm_loss_window=min(rule.intervals * device.poll_interval, rule.cap_seconds),
    )
