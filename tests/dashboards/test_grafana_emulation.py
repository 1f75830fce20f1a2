"""The Grafana stand-in of the query tests interpolates and transforms as Grafana does."""

from __future__ import annotations

import pytest

from tests.dashboards.grafana import ALL, interpolate, load_dashboards, transform

MODEL = load_dashboards()["fireroom-overview"]
QUERY = 'SELECT "value" FROM "reading" WHERE "site" =~ /^$site$/ AND "device" =~ /^$device$/ ' \
        "AND $timeFilter GROUP BY time($__interval)"


def test_single_multi_and_all_values() -> None:
    text = interpolate(QUERY, MODEL, {"site": ["tower-a"], "device": ["pump.1", "jockey-1"]},
                       time_range="time > now() - 1h", interval="10s")
    assert text == ('SELECT "value" FROM "reading" WHERE "site" =~ /^tower-a$/ AND '
                    '"device" =~ /^(pump\\.1|jockey-1)$/ AND time > now() - 1h '
                    "GROUP BY time(10s)")
    text = interpolate(QUERY, MODEL, {"site": ALL, "device": "a/b"}, time_range="x")
    assert '"site" =~ /^.*$/' in text
    assert '"device" =~ /^a\\/b$/' in text


def test_an_unknown_variable_is_left_and_caught() -> None:
    with pytest.raises(AssertionError, match="uninterpolated"):
        interpolate("SELECT 1 WHERE x = '$nope'", MODEL, {}, time_range="x")


def test_group_filter_organize_sort() -> None:
    rows = [
        {"Time": 1, "rule": "r", "subject": "s1", "state": "active_unacked"},
        {"Time": 2, "rule": "r", "subject": "s2", "state": "active_unacked"},
        {"Time": 3, "rule": "r", "subject": "s1", "state": "closed"},
    ]
    steps = [
        {"id": "groupBy", "options": {"fields": {
            "rule": {"operation": "groupby"}, "subject": {"operation": "groupby"},
            "Time": {"operation": "aggregate", "aggregations": ["last"]},
            "state": {"operation": "aggregate", "aggregations": ["last"]}}}},
        {"id": "filterByValue", "options": {"type": "exclude", "match": "any", "filters": [
            {"fieldName": "state (last)",
             "config": {"id": "equal", "options": {"value": "closed"}}}]}},
        {"id": "organize", "options": {"renameByName": {"state (last)": "State"}}},
        {"id": "sortBy", "options": {"sort": [{"field": "Time (last)", "desc": True}]}},
    ]
    assert transform(rows, steps) == [
        {"rule": "r", "subject": "s2", "Time (last)": 2, "State": "active_unacked"}]
