"""A site with every kind of point the rule catalogue looks at, and a driver for its engine."""

from __future__ import annotations

from typing import Any

from fireroom.config import Site, parse_site
from fireroom.domain import PointValue, Quality
from services.rules import Clear, Raise, RulesEngine, Transition
from tests.services.helpers import FakeClock, telemetry

SITE = "cat"

NORMAL: dict[str, dict[str, PointValue]] = {
    "facp-1": {
        "system_status": ["normal"],
        "L1-SD001": ["normal"],
        "L1-SD002": ["normal"],
    },
    "pump-1": {
        "running": False,
        "demand": False,
        "remote_start": False,
        "mode": "auto",
        "alarms": [],
        "alarms_2": [],
    },
    "jockey-1": {
        "running": False,
        "demand": False,
        "remote_start": False,
        "mode": "auto",
        "alarms": [],
        "alarms_2": [],
    },
    "ai-1": {
        "main_pressure": 0.62,
        "riser_pressure": 0.41,
        "tank_level": 3.2,
        "tank_temperature": 12.0,
    },
}


def site_data(
    devices: dict[str, dict[str, Any]] | None = None, **rules: Any
) -> dict[str, Any]:
    """The catalogue site; `devices` adds keys to a device's config, `rules` to the site's."""
    tcp = {"type": "tcp", "host": "127.0.0.1", "port": 1502}
    transmitter = {"low": 0.0, "high": 1.6, "unit": "MPa"}
    data: dict[str, Any] = {
        "site": {"id": SITE},
        "devices": [
            {
                "id": "facp-1",
                "profile": "gbt26875-panel",
                "transport": tcp,
                "points": [
                    {"name": "L1-SD001", "index": 0, "label": "smoke 1, zone 1"},
                    {"name": "L1-SD002", "index": 1, "label": "smoke 2, zone 1"},
                ],
            },
            {
                "id": "pump-1",
                "name": "fire pump",
                "profile": "electric-pump-controller",
                "transport": tcp,
                "pump": {"kind": "main", "rated_kw": 45},
            },
            {
                "id": "jockey-1",
                "name": "jockey pump",
                "profile": "electric-pump-controller",
                "transport": tcp,
                "pump": {"kind": "jockey"},
            },
            {
                "id": "ai-1",
                "profile": "ai-4-20ma-8ch",
                "transport": tcp,
                "points": [
                    {"name": "main_pressure", "index": 0, "role": "pressure",
                     "transmitter": transmitter},
                    {"name": "riser_pressure", "index": 1, "role": "pressure", "low_limit": 0.10,
                     "high_limit": 0.9, "transmitter": transmitter},
                    {"name": "tank_level", "index": 2, "role": "level", "low_limit": 2.5,
                     "transmitter": {"low": 0.0, "high": 5.0, "unit": "m"}},
                    {"name": "tank_temperature", "index": 3, "role": "temperature",
                     "transmitter": {"low": -20.0, "high": 80.0, "unit": "°C"}},
                ],
            },
        ],
        "rules": {"low_pressure": {"threshold": 0.30, "hold_seconds": 5, "hysteresis": 0.02}}
        | rules,
    }
    for device in data["devices"]:
        device.update((devices or {}).get(device["id"], {}))
    return data


def make_site(devices: dict[str, dict[str, Any]] | None = None, **rules: Any) -> Site:
    return parse_site(site_data(devices, **rules))


class Driver:
    """Feeds one device's scan at a time; unnamed points keep their normal values."""

    def __init__(self, site: Site | None = None) -> None:
        self.clock = FakeClock()
        self.engine = RulesEngine(site or make_site(), self.clock)

    def scan(self, device: str, ts: float, /, **points: Any) -> list[Transition]:
        return self.engine.evaluate(telemetry(SITE, device, ts, **{**NORMAL[device], **points}))

    def everything(self, ts: float) -> list[Transition]:
        """One normal scan of every device."""
        out: list[Transition] = []
        for device in NORMAL:
            out.extend(self.scan(device, ts))
        return out


def keys(transitions: list[Transition]) -> list[tuple[str, str, str]]:
    return [(type(t).__name__, t.rule, t.subject) for t in transitions]


def raised(transitions: list[Transition]) -> Raise:
    """The one transition, which must be a raise."""
    assert len(transitions) == 1, transitions
    only = transitions[0]
    assert isinstance(only, Raise), only
    return only


def cleared(transitions: list[Transition]) -> Clear:
    assert len(transitions) == 1, transitions
    only = transitions[0]
    assert isinstance(only, Clear), only
    return only


LOST = (None, Quality.COMM_LOST)
