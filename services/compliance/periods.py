"""Calendar periods in a site's time zone: a monthly test is due by the end of the month as the
site's clocks show it, whatever the offset or daylight-saving changes in between."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fireroom.obligations import Period

__all__ = ["local_date", "period_end", "period_start"]

_FIRST_MONTH = {
    Period.MONTHLY: 1,
    Period.QUARTERLY: 3,
    Period.HALF_YEARLY: 6,
    Period.YEARLY: 12,
}


def _first_day(day: date, period: Period) -> date:
    if period is Period.DAILY:
        return day
    if period is Period.WEEKLY:
        return day - timedelta(days=day.weekday())
    months = _FIRST_MONTH[period]
    return date(day.year, (day.month - 1) // months * months + 1, 1)


def _next_first_day(first: date, period: Period) -> date:
    if period is Period.DAILY:
        return first + timedelta(days=1)
    if period is Period.WEEKLY:
        return first + timedelta(days=7)
    month = first.month - 1 + _FIRST_MONTH[period]
    return date(first.year + month // 12, month % 12 + 1, 1)


def _midnight(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, time(), tzinfo=zone).timestamp()


def local_date(ts: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, zone).date()


def period_start(ts: float, period: Period, zone: ZoneInfo) -> float:
    """Start of the period holding `ts`: local midnight of its first day, Unix seconds."""
    return _midnight(_first_day(local_date(ts, zone), period), zone)


def period_end(ts: float, period: Period, zone: ZoneInfo) -> float:
    """End of the period holding `ts` (the start of the next one), Unix seconds."""
    first = _first_day(local_date(ts, zone), period)
    return _midnight(_next_first_day(first, period), zone)
