"""Pump runs judged against the credit criteria, one run at a time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fireroom.domain import Quality, Reading
from fireroom.telemetry import Telemetry
from services.compliance import FAILED_TEST, EvidenceRecord, Result, Source
from services.compliance.records import AUTOMATIC
from services.rules.transitions import Transition
from tests.services.compliance.sites import (
    CHURN_PRESSURE,
    IDLE_PRESSURE,
    SITE,
    make_site,
    pump_values,
    telemetry,
)
from tests.services.compliance.yearsim import Action, SiteRun, pump_run, set_mode

START = "2025-03-03 08:00"


@pytest.fixture
def run(tmp_path: Path) -> Iterator[SiteRun]:
    site = make_site(
        presets=["cn-fire-control-room", "gb50974"],
        roles={"diesel_pump": ["pump-2"], "jockey_pump": ["jockey-1"]},
        override={"pump-test-run": {"criteria": {"churn_pressure": CHURN_PRESSURE}}},
    )
    run = SiteRun(site, tmp_path, START)
    yield run
    run.close()


def records(
    run: SiteRun, obligation: str = "pump-test-run", device: str = "pump-1"
) -> list[EvidenceRecord]:
    return run.records.list(obligation=obligation, subject=f"{SITE}/{device}")


def test_a_good_manual_run_is_credited_with_its_figures(run: SiteRun) -> None:
    run.at("2025-03-03 09:00", pump_run("pump-1", 12))
    run.run_until("2025-03-03 12:00")
    [record] = records(run)
    assert record.result is Result.PASS
    assert record.source is Source.TELEMETRY
    assert record.performed_by == AUTOMATIC
    assert run.local(record.performed_at) == "2025-03-03 09:00"
    assert record.figures == {
        "run_minutes": 12.0,
        "peak_pressure": CHURN_PRESSURE,
        "pressure_before": IDLE_PRESSURE,
    }
    assert record.detail["run_class"] == "manual"
    assert run.history() == []


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (pump_run("pump-1", 8), "ran 8.0 min, less than the 10 min required"),
        (
            pump_run("pump-1", 12, peak=0.80),
            "discharge_pressure peaked at 0.80 MPa, below 0.90 MPa (churn 0.95 - 0.05)",
        ),
        (
            pump_run("pump-1", 12, alarms=("phase_loss_l2", "under_voltage")),
            "alarm during the run: phase_loss_l2",
        ),
        (pump_run("pump-2", 20), "ran 20.0 min, less than the 30 min required"),
    ],
)
def test_a_run_that_fails_a_check_is_a_failed_test(
    run: SiteRun, action: Action, reason: str
) -> None:
    run.at("2025-03-03 09:00", action)
    run.run_until("2025-03-03 12:00")
    [incident] = run.incidents.list(rule=FAILED_TEST)
    assert reason in incident.message
    assert incident.detail["reasons"] == [reason]
    [record] = run.records.list(obligation="pump-test-run")
    assert record.result is Result.FAIL
    assert record.note == reason


def test_left_in_manual_fails_once_the_window_has_passed(run: SiteRun) -> None:
    run.at("2025-03-03 09:00", pump_run("pump-1", 12, then="manual"))
    run.run_until("2025-03-03 09:40")  # 28 min after the run: still waiting
    assert records(run) == []
    run.run_until("2025-03-03 11:00")
    [record] = records(run)
    assert record.result is Result.FAIL
    assert record.detail["back_in_auto_at"] is None
    assert "controller left in manual" in record.note


def test_back_in_auto_within_the_window_is_credited(run: SiteRun) -> None:
    run.at("2025-03-03 09:00", pump_run("pump-1", 12, then="manual"))
    run.at("2025-03-03 09:30", set_mode("pump-1", "auto"))
    run.run_until("2025-03-03 11:00")
    [record] = records(run)
    assert record.result is Result.PASS
    assert run.local(record.detail["back_in_auto_at"]) == "2025-03-03 09:30"


def test_demand_runs_are_not_tests_and_auto_tests_count_only_for_auto_inspection(
    run: SiteRun,
) -> None:
    run.at("2025-03-03 09:00", pump_run("pump-1", 4, cause="demand"))
    run.at("2025-03-03 10:00", pump_run("pump-1", 3, cause="test", weekly=True))
    run.run_until("2025-03-03 12:00")
    assert records(run) == []
    [auto] = records(run, "pump-auto-inspection")
    assert auto.result is Result.PASS
    assert auto.detail["run_class"] == "auto_test"
    assert run.history() == []


def test_the_weekly_test_bit_alone_marks_an_auto_test(run: SiteRun) -> None:
    run.at("2025-03-03 09:00", pump_run("pump-1", 3, cause="none", weekly=True))
    run.run_until("2025-03-03 10:00")
    made = run.records.list(subject=f"{SITE}/pump-1")
    assert [record.obligation for record in made] == ["pump-auto-inspection"]


def test_readings_that_are_not_good_neither_end_nor_start_a_run(run: SiteRun) -> None:
    def lost(ts: float) -> Telemetry:
        readings = [Reading("running", None, Quality.COMM_LOST)]
        return Telemetry(SITE, "pump-1", ts, 0, readings)

    def act(run: SiteRun) -> None:
        pump_run("pump-1", 5)(run)  # ends in AUTO at 09:05: a 5-minute run fails
        run.send(lost(run.clock.now()))

    run.at("2025-03-03 09:00", act)
    run.at("2025-03-03 09:30", lambda run: run.send(lost(run.clock.now())))
    run.run_until("2025-03-03 10:00")
    assert len(records(run)) == 1


def test_a_passing_run_clears_the_failed_test(run: SiteRun) -> None:
    transitions: list[Transition] = []

    def collect(run: SiteRun) -> None:
        transitions.extend(run.engine.tick())

    run.at("2025-03-03 09:00", pump_run("pump-1", 5))
    run.at("2025-03-03 10:00", pump_run("pump-1", 12))
    run.at("2025-03-03 11:00", collect)
    run.run_until("2025-03-03 12:00")
    assert transitions == []  # nothing left to report
    assert [(e[1], e[2]) for e in run.history()] == [
        ("raised", FAILED_TEST),
        ("cleared", FAILED_TEST),
    ]


def test_a_run_going_when_the_engine_starts_is_not_judged(run: SiteRun) -> None:
    def act(run: SiteRun) -> None:
        for device in ("pump-1", "pump-2"):
            for minute in range(3):
                values = pump_values(running=True, mode="manual", cause="manual")
                run.send(telemetry(device, run.clock.now() + 60 * minute, **values))

    fresh = SiteRun(run.site, run.records.path.parent / "fresh", START)
    try:
        act(fresh)  # before any idle message: nobody saw these pumps stopped
        fresh.run_until("2025-03-03 10:00")
        assert [r.obligation for r in fresh.records.list()] == ["water-tank-level"]
    finally:
        fresh.close()
