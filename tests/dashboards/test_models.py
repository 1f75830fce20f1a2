"""The dashboards' JSON models, read as Grafana and the InfluxDB versions they target would:
required keys, a layout inside 24 columns, raw InfluxQL only (the subset InfluxDB 1.x, 2.x
through DBRP and 3.x all run), the data source variable everywhere, every variable defined,
no host or data source hard-coded."""

from __future__ import annotations

import re
from itertools import combinations
from typing import Any

import pytest

from tests.dashboards.grafana import DASHBOARDS, load_dashboards, panels

BOARDS = load_dashboards()
DATASOURCE = {"type": "influxdb", "uid": "${datasource}"}
BUILTIN_ANNOTATIONS = {"type": "grafana", "uid": "-- Grafana --"}
MACROS = {"timeFilter", "__interval", "__interval_ms"}
# Grafana's alias patterns for InfluxQL series names; not variables.
ALIAS = re.compile(r"\$(tag_\w+|col|m|measurement)\b|\[\[tag_\w+\]\]")
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
# What InfluxQL on InfluxDB 3 lacks, and what is not InfluxQL at all.
UNPORTABLE = re.compile(
    r"\b(SLIMIT|SOFFSET|INTEGRAL|SAMPLE|HOLT_WINTERS\w*|CHANDE_MOMENTUM_OSCILLATOR|"
    r"EXPONENTIAL_MOVING_AVERAGE|DOUBLE_EXPONENTIAL_MOVING_AVERAGE|TRIPLE_\w+|"
    r"KAUFMANS_\w+|RELATIVE_STRENGTH_INDEX|INTO|SHOW\s+SERIES|SHOW\s+DATABASES)\b|"
    r"\|>|from\(bucket|\bFROM\s*\(",
    re.IGNORECASE,
)
TRANSFORMATIONS = {"groupBy", "filterByValue", "organize", "sortBy"}
PANEL_TYPES = {"stat", "table", "timeseries", "state-timeline", "bargauge", "row"}
IDS = [(uid, p["id"]) for uid, model in BOARDS.items() for p in panels(model)]


def _panel(uid: str, panel_id: int) -> dict[str, Any]:
    return next(p for p in panels(BOARDS[uid]) if p["id"] == panel_id)


def _variables(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in model["templating"]["list"]}


def test_the_three_dashboards_are_shipped() -> None:
    assert set(BOARDS) == {"fireroom-overview", "fireroom-water", "fireroom-health"}
    for uid in BOARDS:
        assert (DASHBOARDS / f"{uid}.json").is_file()


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_dashboard_model(uid: str) -> None:
    model = BOARDS[uid]
    for key in ("uid", "title", "panels", "schemaVersion", "templating", "time", "tags",
                "annotations", "editable", "refresh"):
        assert key in model, key
    assert model["id"] is None  # Grafana assigns ids per instance
    assert len(uid) <= 40
    assert re.fullmatch(r"[a-z0-9-]+", uid)
    assert model["schemaVersion"] >= 39
    assert "fireroom" in model["tags"]
    assert model["time"]["to"] == "now"
    titles = [m["title"] for m in BOARDS.values()]
    assert len(set(titles)) == len(titles)
    assert re.fullmatch(r"\d+[sm]", model["refresh"])


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_layout(uid: str) -> None:
    found = list(panels(BOARDS[uid]))
    ids = [p["id"] for p in found]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    titles = [p["title"] for p in found]
    assert len(titles) == len(set(titles)), "panel titles are unique"
    for panel in found:
        grid = panel["gridPos"]
        assert set(grid) == {"x", "y", "w", "h"}
        assert all(isinstance(grid[k], int) for k in grid)
        assert grid["x"] >= 0
        assert grid["y"] >= 0
        assert grid["w"] >= 1
        assert grid["h"] >= 1
        assert grid["x"] + grid["w"] <= 24, f"{panel['title']} passes column 24"
        assert panel["type"] in PANEL_TYPES
    for one, other in combinations(found, 2):
        a, b = one["gridPos"], other["gridPos"]
        apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                 or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
        assert apart, f"{one['title']} overlaps {other['title']}"


@pytest.mark.parametrize(("uid", "panel_id"), IDS)
def test_panel_queries_are_raw_portable_influxql(uid: str, panel_id: int) -> None:
    panel = _panel(uid, panel_id)
    assert panel["datasource"] == DATASOURCE
    assert panel["targets"], "a panel without queries"
    refs = [t["refId"] for t in panel["targets"]]
    assert len(refs) == len(set(refs))
    for target in panel["targets"]:
        assert target["datasource"] == DATASOURCE
        assert target["rawQuery"] is True
        assert target["resultFormat"] in ("time_series", "table")
        query = target["query"]
        assert query.startswith("SELECT "), query
        assert ";" not in query, "one statement per target"
        assert "$timeFilter" in query, "every query honours the time range"
        assert re.search(r'FROM "(reading|incident)"', query), "the lineprotocol measurements"
        assert not UNPORTABLE.search(query), query
        grouped = re.search(r"GROUP BY time\(([^)]*)\)", query)
        if grouped:
            assert grouped.group(1) in ("$__interval", "1h"), query
            assert re.search(r"fill\((null|0|none|previous)\)", query), "fill() is explicit"
        if "LIMIT" in query:
            assert "ORDER BY time DESC LIMIT 1" in query
    for step in panel.get("transformations", []):
        assert step["id"] in TRANSFORMATIONS, "tests/dashboards/grafana.py reproduces these"


@pytest.mark.parametrize(("uid", "panel_id"), IDS)
def test_panel_field_references_exist_in_its_query(uid: str, panel_id: int) -> None:
    """Display names and transformations name columns the query returns."""
    panel = _panel(uid, panel_id)
    queries = " ".join(t["query"] for t in panel["targets"])
    text = str(panel.get("fieldConfig", {}))
    for name in re.findall(r"__data\.fields\.(\w+)", text):
        assert f'"{name}"' in queries, name
    for step in panel.get("transformations", []):
        if step["id"] == "groupBy":
            for name in step["options"]["fields"]:
                assert name == "Time" or f'"{name}"' in queries, name


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_variables(uid: str) -> None:
    model = BOARDS[uid]
    variables = _variables(model)
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "influxdb"
    assert {"site", "device"} <= set(variables)
    for variable in variables.values():
        if variable["type"] != "query":
            continue
        assert variable["datasource"] == DATASOURCE
        query = variable["query"]["query"]
        assert query == variable["definition"]
        assert query.startswith('SHOW TAG VALUES FROM "reading" WITH KEY = ')
        assert variable["allValue"] == ".*"  # a regex that also matches an absent tag
    assert variables["site"]["query"]["query"] == 'SHOW TAG VALUES FROM "reading" WITH KEY = "site"'
    assert variables["device"]["query"]["query"].endswith('WHERE "site" =~ /^$site$/')


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_every_referenced_variable_exists(uid: str) -> None:
    model = BOARDS[uid]
    defined = set(_variables(model))
    texts = [t["query"] for p in panels(model) for t in p["targets"]]
    texts += [v["query"]["query"] for v in model["templating"]["list"] if v["type"] == "query"]
    texts += [p["datasource"]["uid"] for p in panels(model)]
    texts += [a["query"] for a in model["annotations"]["list"] if "query" in a]
    texts += [ALIAS.sub("", t.get("alias", "")) for p in panels(model) for t in p["targets"]]
    used = set()
    for text in texts:
        for match in VARIABLE.finditer(text):
            used.add(next(group for group in match.groups() if group))
    assert used - MACROS <= defined, sorted(used - MACROS - defined)
    assert {"datasource", "site", "device"} <= used, "every variable is used"


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_variables_are_only_used_as_anchored_regexes(uid: str) -> None:
    """`=~ /^$var$/` is what Grafana's multi-value and All interpolation is built for."""
    model = BOARDS[uid]
    for panel in panels(model):
        for target in panel["targets"]:
            for name in ("site", "device"):
                uses = re.findall(rf"(.{{0,6}})\${name}\b(.?.?)", target["query"])
                assert all(before.endswith("=~ /^") and after == "$/" for before, after in uses)


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_no_hard_coded_hosts_or_data_sources(uid: str) -> None:
    text = (DASHBOARDS / f"{uid}.json").read_text("utf-8")
    assert not re.search(r"https?://|localhost|\b\d{1,3}(\.\d{1,3}){3}\b", text)
    model = BOARDS[uid]
    for annotation in model["annotations"]["list"]:
        assert annotation["datasource"] in (DATASOURCE, BUILTIN_ANNOTATIONS)
    uids = set(re.findall(r'"uid": "([^"]*)"', text)) - {uid}
    assert uids <= {"${datasource}", "-- Grafana --"}, uids


@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_incident_annotations(uid: str) -> None:
    """Raised incidents marked on every time axis, from the `incident` measurement."""
    (annotation,) = [a for a in BOARDS[uid]["annotations"]["list"] if not a.get("builtIn")]
    assert annotation["datasource"] == DATASOURCE
    query = annotation["query"]
    assert query.startswith("SELECT ")
    assert 'FROM "incident"' in query
    assert "$timeFilter" in query
    assert not UNPORTABLE.search(query)
    columns = [annotation["titleColumn"], annotation["textColumn"],
               *annotation["tagsColumn"].split(",")]
    for column in columns:
        assert f'"{column}"' in query, column
