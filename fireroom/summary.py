"""The one-screen summary `fireroom check-config` prints."""

from __future__ import annotations

from collections import Counter

from fireroom.config import DeviceConfig, MqttTransport, RtuTransport, Site

__all__ = ["summarize"]


def _device_line(site: Site, device: DeviceConfig) -> str:
    points = site.points[device.id]
    transport = device.transport
    roles = Counter(point.role.value for point in points if point.role)
    role_text = ", ".join(f"{count} {role}" for role, count in sorted(roles.items()))
    # An MQTT device has no unit id, and it is heard every interval rather than polled.
    unit = "" if isinstance(transport, MqttTransport) else f"unit {device.unit_id}, "
    every = "publishes every" if isinstance(transport, MqttTransport) else "poll"
    return (
        f"  {device.id:<12} {device.profile:<26} {transport.describe()}, "
        f"{unit}{len(points)} points, {every} {device.poll_interval:g} s"
        + (f" ({role_text})" if role_text else "")
    )


def _line_lines(site: Site) -> list[str]:
    config = site.config
    if not config.lines:
        return []
    on_line: dict[str, list[str]] = {line.id: [] for line in config.lines}
    for device in config.devices:
        transport = device.transport
        if isinstance(transport, RtuTransport) and transport.line in on_line:
            on_line[transport.line].append(f"{device.id} (unit {device.unit_id})")
    count = len(config.lines)
    lines = [f"{count} RTU line{'' if count == 1 else 's'}:"]
    for line in config.lines:
        devices = ", ".join(on_line[line.id]) or "no devices"
        lines.append(f"  {line.id:<12} {line.describe()}: {devices}")
    return lines


def summarize(site: Site) -> str:
    config = site.config
    name = config.site.name or "unnamed"
    lines = [f"site {site.id!r} ({name}), time zone {config.site.timezone}"]
    lines.append(f"MQTT broker {config.mqtt.host}:{config.mqtt.port}, data in {config.data_dir}")
    lines.extend(_line_lines(site))
    lines.append(f"{len(config.devices)} devices:")
    for device in config.devices:
        lines.append(_device_line(site, device))
    total = sum(len(site.points[device.id]) for device in config.devices)
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
