"""The periodic tests regulations set, as preset obligations (DOMAIN.md §3).

Plain data, validated by `fireroom.obligations.preset`. Presets name devices by role (fire pump,
diesel pump, jockey pump, panel) and points by kind or role; a site binds roles to its devices
and adjusts any figure under `obligations.override`. Where two presets hold the same id they
mean the same test, and the one listed later in the site's `presets` wins. Grace periods and
escalation ages are this project's defaults, not the regulations' words.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["PRESET_DATA"]

_PUMPS = {"roles": ["fire_pump", "diesel_pump"]}

PUMP_TEST_RUN: Final[dict[str, Any]] = {
    "id": "pump-test-run",
    "title": "Fire, sprinkler and drencher pump test run",
    "source": "source regulation (monthly); GB 50974-2014 §14 (monthly manual start)",
    "period": "monthly",
    "grace": "7d",
    "escalate_after": "30d",
    "applies_to": _PUMPS,
    "evidence": "pump_run",
    # A person starts the monthly run; the controller's own weekly test does not count here.
    "criteria": {"runs": ["manual", "unknown"]},
}

WATER_TANK_LEVEL: Final[dict[str, Any]] = {
    "id": "water-tank-level",
    "title": "Fire water tank level reading",
    "source": "source regulation; GB 50974-2014 §14 (monthly)",
    "period": "monthly",
    "grace": "7d",
    "applies_to": {"point_roles": ["level"]},
    "evidence": "reading",
}


def _manual(
    id: str, title: str, source: str, period: str, grace: str, **more: Any
) -> dict[str, Any]:
    return {"id": id, "title": title, "source": source, "period": period, "grace": grace} | more


CN_FIRE_CONTROL_ROOM: Final[list[dict[str, Any]]] = [
    PUMP_TEST_RUN,
    {
        "id": "detector-rotation",
        "title": "Every smoke and heat detector tested, in rotation",
        "source": "source regulation (yearly)",
        "period": "yearly",
        "grace": "15d",
        "escalate_after": "60d",
        "applies_to": {"roles": ["facp"], "point_kinds": ["smoke_detector", "heat_detector"]},
        "evidence": "detector_test",
    },
    _manual(
        "smoke-control-test",
        "Positive-pressure air supply and smoke exhaust test",
        "source regulation (half-yearly)",
        "half-yearly",
        "14d",
    ),
    _manual(
        "hydrant-drain-test",
        "Indoor hydrants, and drain test at the sprinkler end-of-line test valves",
        "source regulation (quarterly)",
        "quarterly",
        "14d",
    ),
    _manual(
        "sprinkler-components-check",
        "Sprinkler valves, heads and pressure gauges checked",
        "source regulation (quarterly)",
        "quarterly",
        "14d",
    ),
    _manual(
        "alarm-linkage-test",
        "Fire alarm linkage function test",
        "source regulation (quarterly)",
        "quarterly",
        "14d",
    ),
    _manual(
        "fire-extinguishers",
        "Fire extinguishers checked (winter and summer)",
        "source regulation (twice a year)",
        "half-yearly",
        "14d",
    ),
    _manual(
        "municipal-water-supply",
        "Municipal water supply capacity",
        "source regulation (yearly)",
        "yearly",
        "30d",
        figures=["pressure"],
    ),
    WATER_TANK_LEVEL,
    _manual(
        "comprehensive-inspection",
        "Comprehensive inspection of the fire protection facilities",
        "Fire Protection Law §16 (at least yearly)",
        "yearly",
        "30d",
    ),
]

GB50974: Final[list[dict[str, Any]]] = [
    PUMP_TEST_RUN,
    {
        "id": "pump-auto-inspection",
        "title": "Fire pump simulated automatic start (auto-inspection)",
        "source": "GB 50974-2014 §14 (weekly, recorded automatically)",
        "period": "weekly",
        "grace": "1d",
        "escalate_after": "period",
        "applies_to": _PUMPS,
        "evidence": "pump_run",
        # Auto-inspection often turns the pump at low speed: neither duration nor pressure.
        "criteria": {"runs": ["auto_test"], "min_run_minutes": 0, "check_pressure": False},
    },
    _manual(
        "pump-flow-pressure-test",
        "Fire pump flow and pressure test",
        "GB 50974-2014 §14 (quarterly)",
        "quarterly",
        "14d",
        applies_to=_PUMPS,
        figures=["flow", "pressure"],
    ),
    {
        "id": "jockey-pump-daily",
        "title": "Jockey pump start and stop pressures",
        "source": "GB 50974-2014 §14 (daily)",
        "period": "daily",
        "grace": "1d",
        "escalate_after": "3d",
        "applies_to": {"roles": ["jockey_pump"]},
        "evidence": "jockey_cycle",
    },
    _manual(
        "pressure-tank",
        "Pressure tank pressure and effective volume",
        "GB 50974-2014 §14 (monthly)",
        "monthly",
        "7d",
        figures=["pressure"],
    ),
    WATER_TANK_LEVEL,
    _manual(
        "municipal-water-pressure",
        "Municipal supply pressure and capacity",
        "GB 50974-2014 §14 (quarterly)",
        "quarterly",
        "14d",
        figures=["pressure"],
    ),
]

# GB 25201-2010's maintenance cadence as this project reads it (unverified): check the text
# and adjust under `obligations.override`.
GB25201: Final[list[dict[str, Any]]] = [
    _manual(
        "facility-patrol",
        "Daily patrol of the fire protection facilities",
        "GB 25201-2010 (daily patrol; unverified)",
        "daily",
        "1d",
        escalate_after="3d",
    ),
    _manual(
        "facility-monthly-check",
        "Monthly check of each fire protection system",
        "GB 25201-2010 (monthly single-item check; unverified)",
        "monthly",
        "7d",
    ),
    _manual(
        "linkage-check",
        "Linkage check of the fire protection systems",
        "GB 25201-2010 (yearly linkage check; unverified)",
        "yearly",
        "30d",
    ),
    _manual(
        "annual-detection",
        "Detection by a qualified testing organisation",
        "GB 25201-2010 (yearly detection; unverified)",
        "yearly",
        "30d",
    ),
]

_ANY_RUN = ["manual", "auto_test", "unknown"]

NFPA25: Final[list[dict[str, Any]]] = [
    {
        "id": "diesel-pump-weekly-run",
        "title": "Diesel fire pump run",
        "source": "NFPA 25 (weekly, at least 30 min)",
        "period": "weekly",
        "grace": "1d",
        "escalate_after": "period",
        "applies_to": {"roles": ["diesel_pump"]},
        "evidence": "pump_run",
        "criteria": {"runs": _ANY_RUN, "min_run_minutes": 30},
    },
    {
        "id": "electric-pump-churn-test",
        "title": "Electric fire pump churn test",
        "source": "NFPA 25 (weekly, or monthly where allowed; at least 10 min)",
        "period": "weekly",
        "grace": "1d",
        "escalate_after": "period",
        "applies_to": {"roles": ["fire_pump"]},
        "evidence": "pump_run",
        "criteria": {"runs": _ANY_RUN, "min_run_minutes": 10},
    },
    _manual(
        "pump-annual-flow-test",
        "Fire pump annual full-flow test",
        "NFPA 25 (yearly)",
        "yearly",
        "30d",
        applies_to=_PUMPS,
        figures=["flow", "pressure"],
    ),
]

PRESET_DATA: Final[dict[str, list[dict[str, Any]]]] = {
    "cn-fire-control-room": CN_FIRE_CONTROL_ROOM,
    "gb50974": GB50974,
    "gb25201": GB25201,
    "nfpa25": NFPA25,
}
