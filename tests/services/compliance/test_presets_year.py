"""A year of each preset on a simulated clock: exactly which incidents appear, and when.

Every test plans the evidence each obligation needs in every period of 2025 (`diligent`), leaves
some out or replaces it with a failing test, runs the site hour by hour into January 2026 and
compares the whole incident history with the expected one. Times are the site's (UTC+8). A
healthy year, started on a Thursday afternoon in mid-March, must raise nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fireroom.domain import Severity
from services.compliance import FAILED_TEST, MISSED_TEST, Result, State
from tests.services.compliance.sites import IDLE_PRESSURE, make_site
from tests.services.compliance.yearsim import (
    SiteRun,
    diligent,
    level_transmitter,
    manual,
    pump_run,
    set_mode,
)

ROLES = {"diesel_pump": ["pump-2"], "jockey_pump": ["jockey-1"]}


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[SiteRun]]:
    made: list[SiteRun] = []
    yield made
    for run in made:
        run.close()


def start(runs: list[SiteRun], tmp_path: Path, **obligations: object) -> SiteRun:
    run = SiteRun(make_site(**obligations), tmp_path)
    runs.append(run)
    return run


def test_cn_fire_control_room_year(runs: list[SiteRun], tmp_path: Path) -> None:
    run = start(runs, tmp_path, presets=["cn-fire-control-room"], roles=ROLES)
    left_out = {
        ("pump-test-run", "pump-1", "2025-04-10"),
        ("pump-test-run", "pump-1", "2025-05-10"),
        ("pump-test-run", "pump-2", "2025-08-10"),
        ("fire-extinguishers", None, "2025-01-10"),
    }
    diligent(
        run,
        skip=lambda obligation, device, point, day: (
            (obligation, device, day) in left_out or point == "L1-HD002"
        ),
    )
    run.at("2025-08-10 13:00", pump_run("pump-2", 20))  # a diesel needs 30 min
    run.at("2025-08-12 13:00", pump_run("pump-2", 35))
    run.run_until("2025-12-31 23:00")
    rotation = next(s for s in run.engine.statuses() if s.obligation.id == "detector-rotation")
    assert rotation.coverage is not None
    assert (rotation.coverage.tested, rotation.coverage.total) == (5, 6)
    assert rotation.coverage.untested == ("L1-HD002",)
    run.run_until("2026-01-20 00:00")

    assert run.history() == [
        ("2025-05-08 00:00", "raised", MISSED_TEST, "pump-1:pump-test-run", "minor"),
        ("2025-06-07 00:00", "updated", MISSED_TEST, "pump-1:pump-test-run", "major"),
        ("2025-06-10 10:15", "cleared", MISSED_TEST, "pump-1:pump-test-run", ""),
        ("2025-08-10 13:20", "raised", FAILED_TEST, "pump-2:pump-test-run", "major"),
        ("2025-08-12 13:35", "cleared", FAILED_TEST, "pump-2:pump-test-run", ""),
        # The one test of the first half-year came late, within grace, on 10 July: it stands
        # for the first half, and the second half had none.
        ("2026-01-15 00:00", "raised", MISSED_TEST, "site:fire-extinguishers", "minor"),
        ("2026-01-16 00:00", "raised", MISSED_TEST, "facp-1:detector-rotation", "minor"),
    ]
    failed = run.incidents.list(rule=FAILED_TEST)[0]
    assert "ran 20.0 min, less than the 30 min required" in failed.message
    detectors = run.incidents.list(rule=MISSED_TEST, open_only=True)
    rotation_incident = next(i for i in detectors if i.subject.endswith(":detector-rotation"))
    assert rotation_incident.detail["points"] == ["L1-HD002"]
    assert rotation_incident.severity is Severity.MINOR
    states = {(s.obligation.id, s.target.device): s.state for s in run.engine.statuses()}
    assert states[("fire-extinguishers", None)] is State.OVERDUE
    assert states[("pump-test-run", "pump-1")] is State.OK


def test_gb50974_year(runs: list[SiteRun], tmp_path: Path) -> None:
    run = start(runs, tmp_path, presets=["gb50974"], roles=ROLES)
    jockey_days = {f"2025-09-0{day}" for day in range(1, 7)}
    diligent(
        run,
        skip=lambda obligation, device, point, day: (
            (obligation, device, day)
            in {
                ("pump-test-run", "pump-1", "2025-04-10"),
                ("pump-auto-inspection", "pump-1", "2025-03-12"),
                ("pressure-tank", None, "2025-06-10"),
            }
            or (obligation == "jockey-pump-daily" and day in jockey_days)
        ),
    )
    # The controller's weekly test runs into a phase loss.
    run.at(
        "2025-03-12 16:00",
        pump_run(
            "pump-1", 3, cause="test", weekly=True, peak=IDLE_PRESSURE, alarms=("phase_loss_l1",)
        ),
    )
    run.at(
        "2025-06-10 11:00",
        manual(
            "pressure-tank",
            result=Result.FAIL,
            figures={"pressure": 0.10},
            note="pre-charge too low",
        ),
    )
    run.at("2025-06-20 11:00", manual("pressure-tank", figures={"pressure": 0.16}))
    run.at("2025-09-30 23:30", level_transmitter(ok=False))
    run.at("2025-11-10 12:00", level_transmitter(ok=True))
    run.run_until("2025-12-31 23:00")

    auto = "pump-1:pump-auto-inspection"
    assert run.history() == [
        ("2025-03-12 16:03", "raised", FAILED_TEST, auto, "major"),
        # The failed run covers nothing: the week is missed one day after it ended.
        ("2025-03-18 00:00", "raised", MISSED_TEST, auto, "minor"),
        ("2025-03-19 14:03", "cleared", FAILED_TEST, auto, ""),
        ("2025-03-19 14:03", "cleared", MISSED_TEST, auto, ""),
        ("2025-05-08 00:00", "raised", MISSED_TEST, "pump-1:pump-test-run", "minor"),
        ("2025-05-10 10:15", "cleared", MISSED_TEST, "pump-1:pump-test-run", ""),
        ("2025-06-10 11:00", "raised", FAILED_TEST, "site:pressure-tank", "major"),
        ("2025-06-20 11:00", "cleared", FAILED_TEST, "site:pressure-tank", ""),
        ("2025-09-03 00:00", "raised", MISSED_TEST, "jockey-1:jockey-pump-daily", "minor"),
        ("2025-09-06 00:00", "updated", MISSED_TEST, "jockey-1:jockey-pump-daily", "major"),
        ("2025-09-07 09:03", "cleared", MISSED_TEST, "jockey-1:jockey-pump-daily", ""),
        ("2025-11-08 00:00", "raised", MISSED_TEST, "ai-1:water-tank-level", "minor"),
        ("2025-11-10 13:00", "cleared", MISSED_TEST, "ai-1:water-tank-level", ""),
    ]
    failed = {i.subject.split(":")[-1]: i for i in run.incidents.list(rule=FAILED_TEST)}
    assert "alarm during the run: phase_loss_l1" in failed["pump-auto-inspection"].message
    assert "pre-charge too low" in failed["pressure-tank"].message
    jockey = run.records.list(obligation="jockey-pump-daily", limit=1)[0]
    assert jockey.figures == {"run_seconds": 180.0, "start_pressure": 0.55, "stop_pressure": 0.70}


def test_gb25201_year(runs: list[SiteRun], tmp_path: Path) -> None:
    run = start(runs, tmp_path, presets=["gb25201"])
    for year in (2025, 2026):
        diligent(
            run,
            year,
            skip=lambda obligation, device, point, day: (
                obligation == "annual-detection"
                or (obligation, day)
                in {
                    ("facility-patrol", "2025-02-01"),
                    ("facility-patrol", "2025-02-02"),
                    ("facility-patrol", "2025-05-05"),
                    ("linkage-check", "2025-01-10"),
                }
            ),
        )
    run.at(
        "2025-01-10 11:00",
        manual("linkage-check", result=Result.FAIL, note="smoke exhaust fan did not start"),
    )
    run.at("2025-01-24 11:00", manual("linkage-check"))
    run.at("2025-05-06 08:00", manual("facility-patrol"))  # a day late, within grace
    run.run_until("2026-02-01 00:00")

    assert run.history() == [
        ("2025-01-10 11:00", "raised", FAILED_TEST, "site:linkage-check", "major"),
        ("2025-01-24 11:00", "cleared", FAILED_TEST, "site:linkage-check", ""),
        ("2025-02-03 00:00", "raised", MISSED_TEST, "site:facility-patrol", "minor"),
        ("2025-02-03 11:00", "cleared", MISSED_TEST, "site:facility-patrol", ""),
        ("2026-01-31 00:00", "raised", MISSED_TEST, "site:annual-detection", "minor"),
    ]
    missed = run.incidents.list(rule=MISSED_TEST, open_only=True)[0]
    assert missed.message == (
        "Missed test: Detection by a qualified testing organisation (site): none passed by"
        " 2025-12-31, grace ended 2026-01-31 00:00"
    )


def test_nfpa25_year(runs: list[SiteRun], tmp_path: Path) -> None:
    run = start(runs, tmp_path, presets=["nfpa25"], roles=ROLES)
    for year in (2025, 2026):
        diligent(
            run,
            year,
            skip=lambda obligation, device, point, day: (
                (obligation, device) == ("pump-annual-flow-test", "pump-2")
                or (obligation, device, day)
                in {
                    ("electric-pump-churn-test", "pump-1", "2025-02-05"),
                    ("diesel-pump-weekly-run", "pump-2", "2025-07-09"),
                    ("diesel-pump-weekly-run", "pump-2", "2025-10-08"),
                    ("diesel-pump-weekly-run", "pump-2", "2025-10-15"),
                }
            ),
        )
    # Left in manual after the churn test, back in AUTO only two hours later.
    run.at("2025-02-05 13:00", pump_run("pump-1", 15, then="manual"))
    run.at("2025-02-05 15:00", set_mode("pump-1", "auto"))
    # The diesel ran its 35 minutes but the discharge pressure never rose.
    run.at("2025-07-09 13:00", pump_run("pump-2", 35, peak=IDLE_PRESSURE + 0.01))
    run.at("2025-07-10 13:00", pump_run("pump-2", 35))
    run.run_until("2026-02-01 00:00")

    churn, diesel = "pump-1:electric-pump-churn-test", "pump-2:diesel-pump-weekly-run"
    assert run.history() == [
        ("2025-02-05 14:00", "raised", FAILED_TEST, churn, "major"),
        ("2025-02-11 00:00", "raised", MISSED_TEST, churn, "minor"),
        ("2025-02-12 10:50", "cleared", FAILED_TEST, churn, ""),
        ("2025-02-12 10:50", "cleared", MISSED_TEST, churn, ""),
        ("2025-07-09 13:35", "raised", FAILED_TEST, diesel, "major"),
        ("2025-07-10 13:35", "cleared", FAILED_TEST, diesel, ""),
        ("2025-10-14 00:00", "raised", MISSED_TEST, diesel, "minor"),
        # escalate_after "period": the following week passed too.
        ("2025-10-21 00:00", "updated", MISSED_TEST, diesel, "major"),
        ("2025-10-22 10:35", "cleared", MISSED_TEST, diesel, ""),
        ("2026-01-31 00:00", "raised", MISSED_TEST, "pump-2:pump-annual-flow-test", "minor"),
    ]
    failed = {i.subject.split(":")[-1]: i.message for i in run.incidents.list(rule=FAILED_TEST)}
    assert (
        "controller left in manual: not back in AUTO within 30 min"
        in failed["electric-pump-churn-test"]
    )
    assert (
        "discharge_pressure rose only 0.01 MPa (0.62 to 0.63), less than 0.05 MPa"
        in failed["diesel-pump-weekly-run"]
    )


HEALTHY_START = "2025-03-13 15:00"  # a Thursday afternoon, mid-month, mid-quarter, mid-year


# NFPA 25 credits any run, so the Chinese controllers' 3-minute weekly auto-inspection would be
# a failed churn test under it: a site follows one family of presets.
@pytest.mark.parametrize(
    "presets", [["cn-fire-control-room", "gb50974", "gb25201"], ["nfpa25"]], ids=["gb", "nfpa"]
)
def test_a_healthy_year_is_silent(
    runs: list[SiteRun], tmp_path: Path, presets: list[str]
) -> None:
    site = make_site(presets=presets, roles=ROLES)
    run = SiteRun(site, tmp_path, HEALTHY_START)
    runs.append(run)
    first_day = HEALTHY_START[:10]
    # Every test on its usual day from the day after the start: the partial first day, week,
    # month, quarter, half-year and year had theirs before monitoring began, unseen.
    for year in (2025, 2026):
        diligent(run, year, skip=lambda obligation, device, point, day: day <= first_day)
    run.run_until("2026-03-20 00:00")

    assert run.history() == []
    assert run.incidents.list(limit=10_000) == []
    statuses = run.engine.statuses()
    assert statuses
    assert [(s.obligation.id, s.target.device) for s in statuses if s.state is not State.OK] == []
    # Silent because every test was seen and credited, not because nothing was watched.
    unproven = [(s.obligation.id, s.target.device) for s in statuses if s.last_evidence is None]
    assert unproven == []
