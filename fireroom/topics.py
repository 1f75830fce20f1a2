"""MQTT topics of the `fireroom/v1` namespace."""

from __future__ import annotations

__all__ = [
    "PREFIX",
    "gateway_status",
    "heartbeat",
    "heartbeat_filter",
    "incidents",
    "parse_device_topic",
    "snapshot_request",
    "status",
    "telemetry",
    "telemetry_filter",
]

PREFIX = "fireroom/v1"


def telemetry(site: str, device: str) -> str:
    return f"{PREFIX}/{site}/telemetry/{device}"


def status(site: str, device: str) -> str:
    """Retained online/offline status of one device."""
    return f"{PREFIX}/{site}/status/{device}"


def gateway_status(site: str, gateway: str) -> str:
    """Retained status of a gateway process; its last will sets it offline."""
    return f"{PREFIX}/{site}/gateway/{gateway}"


def heartbeat(site: str, process: str) -> str:
    """Retained liveness of one fireroom process (`rules`, `notify`, `api`, a gateway's id)."""
    return f"{PREFIX}/{site}/heartbeat/{process}"


def heartbeat_filter(site: str) -> str:
    return f"{PREFIX}/{site}/heartbeat/+"


def snapshot_request(site: str) -> str:
    """Consumers ask the gateway for full scans here (after a gap in a device's `seq`)."""
    return f"{PREFIX}/{site}/snapshot"


def incidents(site: str) -> str:
    return f"{PREFIX}/{site}/incidents"


def telemetry_filter(site: str = "+") -> str:
    return f"{PREFIX}/{site}/telemetry/+"


def parse_device_topic(topic: str) -> tuple[str, str, str]:
    """`fireroom/v1/{site}/{kind}/{device}` -> (site, kind, device)."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX or not all(parts[2:]):
        raise ValueError(f"not a fireroom device topic: {topic!r}")
    return parts[2], parts[3], parts[4]
