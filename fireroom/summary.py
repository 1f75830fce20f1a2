"""The one-screen summary `fireroom check-config` prints."""

from __future__ import annotations

from collections import Counter

from fireroom.config import Site

__all__ = ["summarize"]


def summarize(site: Site) -> str:
    config = site.config
    name = config.site.name or "unnamed"
    lines = [f"site {site.id!r} ({name}), time zone {config.site.timezone}"]
    lines.append(f"MQTT broker {config.mqtt.host}:{config.mqtt.port}, data in {config.data_dir}")
    total = 0
    lines.append(f"{len(config.devices)} devices:")
    for device in config.devices:
        points = site.points[device.id]
        total += len(points)
        transport = device.transport
        roles = Counter(point.role.value for point in points if point.role)
        role_text = ", ".join(f"{count} {role}" for role, count in sorted(roles.items()))
        lines.append(
            f"  {device.id:<12} {device.profile:<26} {transport.describe()} "
            f"unit {device.unit_id}, {len(points)} points, poll {device.poll_interval:g} s"
            + (f" ({role_text})" if role_text else "")
        )
    lines.append(f"{total} points in all")
    rules = config.rules
    enabled = [name for name, rule in rules if rule.enabled]
    disabled = [name for name, rule in rules if not rule.enabled]
    lines.append(f"rules on: {', '.join(enabled) or 'none'}")
    if disabled:
        lines.append(f"rules off: {', '.join(disabled)}")
    low = rules.low_pressure
    lines.append(
        f"  comm_loss after {rules.comm_loss.intervals:g} poll intervals, at most "
        f"{rules.comm_loss.cap_seconds:g} s; low_pressure below {low.threshold:g} "
        f"for {low.hold_seconds:g} s, clears above +{low.hysteresis:g}"
    )
    return "\n".join(lines)
