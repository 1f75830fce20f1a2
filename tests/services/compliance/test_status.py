"""Calendar periods and due dates."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from fireroom.obligations import ObligationSpec, Period
from services.compliance.periods import period_end, period_start
from services.compliance.status import timeline, year_before

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def ts(text: str, zone: ZoneInfo = SHANGHAI) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone).timestamp()


def local(value: float, zone: ZoneInfo = SHANGHAI) -> str:
    return datetime.fromtimestamp(value, zone).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        (Period.DAILY, "2025-05-14 00:00", "2025-05-15 00:00"),
        (Period.WEEKLY, "2025-05-12 00:00", "2025-05-19 00:00"),  # Monday to Monday
        (Period.MONTHLY, "2025-05-01 00:00", "2025-06-01 00:00"),
        (Period.QUARTERLY, "2025-04-01 00:00", "2025-07-01 00:00"),
        (Period.HALF_YEARLY, "2025-01-01 00:00", "2025-07-01 00:00"),
        (Period.YEARLY, "2025-01-01 00:00", "2026-01-01 00:00"),
    ],
)
def test_periods_are_calendar_periods_in_the_site_zone(
    period: Period, start: str, end: str
) -> None:
    moment = ts("2025-05-14 23:30")
    assert local(period_start(moment, period, SHANGHAI)) == start
    assert local(period_end(moment, period, SHANGHAI)) == end


def test_periods_follow_daylight_saving_time() -> None:
    # Berlin moves to summer time on 30 March 2025: March is an hour short.
    moment = ts("2025-03-20 12:00", BERLIN)
    start = period_start(moment, Period.MONTHLY, BERLIN)
    end = period_end(moment, Period.MONTHLY, BERLIN)
    assert (local(start, BERLIN), local(end, BERLIN)) == ("2025-03-01 00:00", "2025-04-01 00:00")
    assert end - start == 31 * 86400 - 3600
    # The year ends at local midnight, not at UTC midnight.
    assert local(period_end(ts("2025-12-31 23:59"), Period.YEARLY, SHANGHAI)) == (
        "2026-01-01 00:00"
    )
    assert period_end(ts("2025-12-31 23:59"), Period.YEARLY, SHANGHAI) == ts("2026-01-01 00:00")


def spec(**given: object) -> ObligationSpec:
    data = {"id": "x", "title": "x", "period": "monthly", "grace": "7d"} | given
    return ObligationSpec.model_validate(data)


def dates(
    monthly: ObligationSpec, *passes: str, since: str = "2025-01-01 00:00"
) -> tuple[str, str, str, str]:
    line = timeline(monthly, [ts(p) for p in passes], ts(since), SHANGHAI)
    return local(line.open_from), local(line.due), local(line.missed_at), local(line.escalate_at)


def test_never_tested_is_due_at_the_end_of_the_first_period() -> None:
    assert dates(spec()) == (
        "2025-01-01 00:00",
        "2025-02-01 00:00",
        "2025-02-08 00:00",
        "2025-03-10 00:00",  # 30 days after the grace
    )


def test_each_pass_covers_the_earliest_open_period() -> None:
    assert dates(spec(), "2025-01-10 10:00")[:2] == ("2025-02-01 00:00", "2025-03-01 00:00")
    # Two tests in January still leave February open.
    assert dates(spec(), "2025-01-10 10:00", "2025-01-20 10:00")[1] == "2025-03-01 00:00"
    # Late, within grace: 5 March stands for February, and March is still open.
    assert dates(spec(), "2025-01-10 10:00", "2025-03-05 10:00")[:2] == (
        "2025-03-01 00:00",
        "2025-04-01 00:00",
    )
    # After the grace: February was missed; 9 March covers March.
    assert dates(spec(), "2025-01-10 10:00", "2025-03-09 10:00")[:2] == (
        "2025-04-01 00:00",
        "2025-05-01 00:00",
    )


def test_tests_before_tracking_began_cover_nothing() -> None:
    assert dates(spec(), "2024-12-20 10:00")[1] == "2025-02-01 00:00"


def test_escalation_after_one_more_period() -> None:
    weekly = spec(period="weekly", grace="1d", escalate_after="period")
    # Tracked from Monday 30 December: the first week ends on Monday 6 January.
    assert dates(weekly, since="2024-12-30 00:00")[1:] == (
        "2025-01-06 00:00",
        "2025-01-07 00:00",
        "2025-01-14 00:00",
    )


WEEKLY = spec(period="weekly", grace="1d")
THURSDAY = "2025-03-13 15:00"  # tracking begins in the week of Monday 10 March


def test_a_partial_first_period_is_owed_with_the_next() -> None:
    # The week's test may have been made on Monday, before monitoring began.
    assert dates(WEEKLY, since=THURSDAY) == (
        "2025-03-10 00:00",  # a test seen in the partial week still counts
        "2025-03-24 00:00",
        "2025-03-25 00:00",
        "2025-04-24 00:00",
    )
    assert dates(spec(), since="2025-03-13 15:00")[1] == "2025-05-01 00:00"
    assert dates(spec(period="daily", grace="0d"), since=THURSDAY)[1] == "2025-03-15 00:00"


def test_a_pass_in_the_partial_first_period_covers_it_alone() -> None:
    assert dates(WEEKLY, "2025-03-14 10:00", since=THURSDAY)[:2] == (
        "2025-03-17 00:00",
        "2025-03-24 00:00",
    )
    # Recorded afterwards for the Wednesday before tracking began: it covers that week.
    assert dates(WEEKLY, "2025-03-12 10:00", since=THURSDAY)[:2] == (
        "2025-03-17 00:00",
        "2025-03-24 00:00",
    )
    # A pass in the following week covers both the partial week and that one.
    assert dates(WEEKLY, "2025-03-19 10:00", since=THURSDAY)[:2] == (
        "2025-03-24 00:00",
        "2025-03-31 00:00",
    )


def test_tracking_from_the_first_moment_of_a_period_is_not_partial() -> None:
    assert dates(WEEKLY, since="2025-03-10 00:00")[1] == "2025-03-17 00:00"


def test_a_year_before_a_leap_day() -> None:
    assert local(year_before(ts("2028-02-29 10:00"), SHANGHAI)) == "2027-02-28 10:00"
