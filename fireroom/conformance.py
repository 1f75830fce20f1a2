"""GB 25506 timing, checked before a site runs.

A fire alarm must reach the operator within 10 s; a facility status change or a fault, a lost
panel or pump controller among them, within 100 s (DOMAIN.md §2). `check` lists every way a
site's config breaks that; `load_conforming_site` is how every service loads its site: a site
with problems is refused, unless it declares `nonconforming: {reason, approved_by}`, and then
it runs and each problem is logged as a warning.

What is checked, for panels (devices with `facp_system` or `facp_point` points) and pump
controllers (a `pump:` section, or points with a pump role):

- `fire_alarm` is not disabled, site-wide or for a panel; `comm_loss` is not disabled for a
  panel or a pump controller (a lost device would never be reported).
- A fire on a panel shows within 10 s. The worst case is

      2 × interval(system word) + timeout    for a panel with a system status word
      1 × interval(point words) + timeout    for a panel with point words only

  The rules believe a system word's summary bit only after two scans (a scan can tear between
  register blocks), and a detector the config does not list shows only through that bit; a
  listed point word shows its fire on the first read. interval() is `fast_lane.interval` for
  points in `fast_lane.points`, the device's `poll_interval` otherwise, the slowest where
  several; timeout is the device's answer timeout (its RTU line's unless it sets its own).
  An MQTT device publishes by itself: `poll_interval` is its expected publish interval, no
  fast lane can hurry it, and no request waits for an answer, so its timeout counts as 0.
- A lost panel or pump controller shows within 100 s: min(comm_loss.intervals ×
  poll_interval, comm_loss.cap_seconds) ≤ 100 s.
- One reporting by exception sends a full snapshot at least every 100 s
  (`report.integrity_seconds`): a change lost in transit waits for the next one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fireroom.config import DeviceConfig, MqttTransport, RtuTransport, Site, load_site
from fireroom.errors import ConfigError, ConfigProblem
from fireroom.points import PointSpec, Role

__all__ = ["FIRE_SECONDS", "STATUS_SECONDS", "check", "enforce", "load_conforming_site"]

log = logging.getLogger(__name__)

FIRE_SECONDS: Final = 10.0  # GB 25506 §7: a fire alarm reaches the monitoring centre
STATUS_SECONDS: Final = 100.0  # GB 25506 §7: a facility status change or fault does
HINT: Final = "; fix it, or declare nonconforming: {reason, approved_by}"
_PUMP_ROLES: Final = frozenset(
    {Role.PUMP_RUNNING, Role.PUMP_DEMAND, Role.PUMP_START, Role.PUMP_MODE, Role.PUMP_ALARMS}
)


def _s(seconds: float) -> str:
    return f"{seconds:g}"


@dataclass(frozen=True, slots=True)
class _Device:
    """A device as the checks see it: where it sits in the config and what it is."""

    config: DeviceConfig
    at: str  # devices[i]
    points: list[PointSpec]
    panel: bool
    pump: bool

    @property
    def watched(self) -> bool:
        return self.panel or self.pump


def _devices(site: Site) -> list[_Device]:
    out = []
    for index, device in enumerate(site.config.devices):
        points = site.points.get(device.id, [])
        roles = {point.role for point in points}
        out.append(_Device(
            config=device,
            at=f"devices[{index}]",
            points=points,
            panel=bool(roles & {Role.FACP_SYSTEM, Role.FACP_POINT}),
            pump=device.pump is not None or bool(roles & _PUMP_ROLES),
        ))
    return out


def _disabled(device: _Device, rule: str) -> bool:
    """Does the device's own `rules:` switch `rule` off?"""
    return device.config.rules.get(rule, {}).get("enabled") is False


def _switches(site: Site, devices: list[_Device]) -> list[ConfigProblem]:
    problems = []
    rules = site.config.rules
    if not rules.fire_alarm.enabled:
        problems.append(ConfigProblem(
            "rules.fire_alarm.enabled", "false: fire alarms would never be raised (GB 25506)"
        ))
    for device in devices:
        if device.panel and _disabled(device, "fire_alarm"):
            problems.append(ConfigProblem(
                f"{device.at}.rules.fire_alarm.enabled",
                f"false: fire alarms of {device.config.id} would never be raised (GB 25506)",
            ))
    inheriting = [
        d.config.id for d in devices
        if d.watched and not site.rules_for(d.config.id).comm_loss.enabled and not _disabled(
            d, "comm_loss"
        )
    ]
    if inheriting:
        problems.append(ConfigProblem(
            "rules.comm_loss.enabled",
            f"false: a lost {', '.join(inheriting)} would never be reported"
            f" (GB 25506 allows {_s(STATUS_SECONDS)} s)",
        ))
    for device in devices:
        if device.watched and _disabled(device, "comm_loss"):
            problems.append(ConfigProblem(
                f"{device.at}.rules.comm_loss.enabled",
                f"false: a lost {device.config.id} would never be reported"
                f" (GB 25506 allows {_s(STATUS_SECONDS)} s)",
            ))
    return problems


def _timeout(site: Site, device: _Device) -> tuple[float, str]:
    """The answer timeout a read may wait, and where it is set; as the gateway's drivers."""
    config = device.config
    if isinstance(config.transport, MqttTransport):
        return 0.0, f"{device.at}.poll_interval"
    if isinstance(config.transport, RtuTransport) and "timeout" not in config.model_fields_set:
        for index, line in enumerate(site.config.lines):
            if line.id == config.transport.line:
                return line.timeout, f"lines[{index}].timeout"
    return config.timeout, f"{device.at}.timeout"


def _interval(device: _Device, points: list[PointSpec]) -> tuple[float, str]:
    """The slowest read interval of `points`, and where it is set."""
    config = device.config
    lane = config.fast_lane
    if lane is None or isinstance(config.transport, MqttTransport):
        return config.poll_interval, f"{device.at}.poll_interval"
    fast = set(lane.points)
    if all(point.name in fast for point in points):
        return lane.interval, f"{device.at}.fast_lane.interval"
    return config.poll_interval, f"{device.at}.poll_interval"


def _fire_latency(site: Site, device: _Device) -> ConfigProblem | None:
    system = [p for p in device.points if p.role is Role.FACP_SYSTEM]
    reads = 2 if system else 1
    interval, interval_at = _interval(
        device, system or [p for p in device.points if p.role is Role.FACP_POINT]
    )
    timeout, timeout_at = _timeout(site, device)
    worst = reads * interval + timeout
    if worst <= FIRE_SECONDS:
        return None
    at, value = (interval_at, interval) if reads * interval > timeout else (timeout_at, timeout)
    return ConfigProblem(
        at,
        f"{_s(value)}: a fire on {device.config.id} could take up to {_s(worst)} s to show"
        f" ({reads} × {_s(interval)} s read interval + {_s(timeout)} s timeout;"
        f" GB 25506 allows {_s(FIRE_SECONDS)} s)",
    )


def _rule_at(device: _Device, rule: str, key: str) -> str:
    own = device.config.rules.get(rule, {})
    return f"{device.at}.rules.{rule}.{key}" if key in own else f"rules.{rule}.{key}"


def _loss_window(site: Site, device: _Device) -> ConfigProblem | None:
    rule = site.rules_for(device.config.id).comm_loss
    if not rule.enabled:
        return None  # reported by _switches
    poll = device.config.poll_interval
    window = min(rule.intervals * poll, rule.cap_seconds)
    if window <= STATUS_SECONDS:
        return None
    cap_at = _rule_at(device, "comm_loss", "cap_seconds")
    return ConfigProblem(
        f"{device.at}.poll_interval",
        f"{_s(poll)}: a lost {device.config.id} would be reported only after {_s(window)} s"
        f" (min({_s(rule.intervals)} intervals × {_s(poll)} s, {cap_at} {_s(rule.cap_seconds)} s);"
        f" GB 25506 allows {_s(STATUS_SECONDS)} s)",
    )


def _integrity(device: _Device) -> ConfigProblem | None:
    report = device.config.report
    if not report.by_exception or report.integrity_seconds <= STATUS_SECONDS:
        return None
    return ConfigProblem(
        f"{device.at}.report.integrity_seconds",
        f"{_s(report.integrity_seconds)}: a change of {device.config.id} lost in transit would"
        f" wait up to {_s(report.integrity_seconds)} s for the next full report"
        f" (GB 25506 allows {_s(STATUS_SECONDS)} s)",
    )


def check(site: Site) -> list[ConfigProblem]:
    """Every way the site's config breaks GB 25506's timing; empty when it conforms."""
    devices = _devices(site)
    problems = _switches(site, devices)
    for device in devices:
        found = [
            _fire_latency(site, device) if device.panel else None,
            _loss_window(site, device) if device.watched else None,
            _integrity(device) if device.watched else None,
        ]
        problems.extend(problem for problem in found if problem is not None)
    return problems


def enforce(site: Site) -> list[ConfigProblem]:
    """The problems a site declared nonconforming runs with; a site that did not is refused."""
    problems = check(site)
    if problems and site.config.nonconforming is None:
        raise ConfigError(
            site.source, [ConfigProblem(p.path, p.message + HINT) for p in problems]
        )
    return problems


def load_conforming_site(path: str | Path) -> Site:
    """Load a site for a service: refused unless it meets GB 25506 or declares why not."""
    site = load_site(path)
    declared = site.config.nonconforming
    for problem in enforce(site):
        assert declared is not None  # enforce refused it otherwise
        log.warning(
            "site %s runs nonconforming, approved by %s (%s): %s",
            site.id, declared.approved_by, declared.reason, problem,
        )
    return site
