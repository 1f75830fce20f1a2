"""A small site with every kind of device the presets name, and telemetry for its states."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from fireroom.config import Site, parse_site
from fireroom.domain import PointValue, Quality, Reading
from fireroom.telemetry import Telemetry

SITE = "comp-site"
ZONE = "Asia/Shanghai"
DETECTORS = ["L1-SD001", "L1-SD002", "L1-SD003", "L1-SD004", "L1-HD001", "L1-HD002"]
CALL_POINT = "L1-MCP001"
PUMPS = ["pump-1", "pump-2"]  # pump-2 is bound as the diesel pump where a test needs one
JOCKEY = "jockey-1"
IDLE_PRESSURE = 0.62
CHURN_PRESSURE = 0.95

_seq = itertools.count()
_TCP = {"type": "tcp", "host": "127.0.0.1", "port": 1502}


def _kind(name: str) -> str:
    return {"SD": "smoke_detector", "HD": "heat_detector"}.get(name[3:5], "manual_call_point")


def site_data(site_id: str = SITE, **obligations: Any) -> dict[str, Any]:
    points = [
        {"name": name, "index": index, "kind": _kind(name), "label": name}
        for index, name in enumerate([*DETECTORS, CALL_POINT])
    ]
    devices: list[dict[str, Any]] = [
        {"id": "facp-1", "profile": "gbt26875-panel", "transport": _TCP, "points": points},
        *({"id": pump, "profile": "electric-pump-controller", "transport": _TCP} for pump in PUMPS),
        {"id": JOCKEY, "profile": "electric-pump-controller", "transport": _TCP},
        {
            "id": "ai-1",
            "profile": "ai-4-20ma-8ch",
            "transport": _TCP,
            "points": [
                {
                    "name": "tank_level",
                    "index": 2,
                    "role": "level",
                    "transmitter": {"low": 0.0, "high": 5.0, "unit": "m"},
                }
            ],
        },
    ]
    return {
        "site": {"id": site_id, "timezone": ZONE},
        "devices": devices,
        "obligations": copy.deepcopy(obligations),
    }


def make_site(site_id: str = SITE, **obligations: Any) -> Site:
    return parse_site(site_data(site_id, **obligations))


def telemetry(device: str, ts: float, site: str = SITE, **values: PointValue) -> Telemetry:
    readings = [Reading(name, value, Quality.GOOD) for name, value in values.items()]
    return Telemetry(site, device, ts, next(_seq), readings)


def pump_values(
    *,
    running: bool = False,
    mode: str = "auto",
    cause: str = "none",
    weekly: bool = False,
    pressure: float = IDLE_PRESSURE,
    alarms: tuple[str, ...] = (),
) -> dict[str, PointValue]:
    return {
        "running": running,
        "mode": mode,
        "start_cause": cause,
        "weekly_test_running": weekly,
        "alarms": list(alarms),
        "alarms_2": [],
        "discharge_pressure": pressure,
    }
