"""Just enough of Grafana to run the dashboards' queries and transformations in tests.

Grafana interpolates a panel's InfluxQL before sending it: `$timeFilter` becomes the time range,
`$__interval` the group-by interval, and a multi-value or all-value variable used in a regex
(`"device" =~ /^$device$/`) becomes its regex-escaped values joined as `(a|b)`, or the
variable's custom all value unescaped. Table transformations then run in the browser; the few
the dashboards use are reproduced here on rows as InfluxDB returned them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ALL",
    "DASHBOARDS",
    "Selection",
    "interpolate",
    "load_dashboards",
    "panels",
    "time_filter",
    "transform",
]

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
ALL = "$__all"

# Grafana's escapeRegex: the characters special to a regular expression, and the delimiter.
_REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|\[\]{}/])")
_REGEX_VARIABLE = re.compile(r"/\^\$\{?(\w+)\}?\$/")

Selection = Mapping[str, Sequence[str] | str]
Row = dict[str, Any]


def load_dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard JSON model in dashboards/, by uid."""
    boards = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        model = json.loads(path.read_text(encoding="utf-8"))
        boards[model["uid"]] = model
    return boards


def panels(model: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, with the panels of collapsed rows, rows excluded."""
    for panel in model.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def variable(model: Mapping[str, Any], name: str) -> dict[str, Any]:
    for item in model["templating"]["list"]:
        if item["name"] == name:
            return dict(item)
    raise KeyError(f"{model['uid']}: no variable {name!r}")


def _regex_value(model: Mapping[str, Any], name: str, chosen: Sequence[str] | str) -> str:
    spec = variable(model, name)
    if chosen == ALL:
        if spec.get("allValue"):
            return str(spec["allValue"])
        raise AssertionError(f"{name}: 'All' without a custom all value needs the option list")
    values = [chosen] if isinstance(chosen, str) else list(chosen)
    escaped = [_REGEX_SPECIAL.sub(r"\\\1", value) for value in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def time_filter(panel: Mapping[str, Any], default: str = "1h") -> str:
    """The `$timeFilter` a relative range gives; a panel's `timeFrom` overrides the dashboard's."""
    return f"time > now() - {panel.get('timeFrom') or default}"


def interpolate(
    query: str,
    model: Mapping[str, Any],
    selection: Selection,
    *,
    time_range: str,
    interval: str = "1s",
) -> str:
    """The query as Grafana's InfluxDB data source would send it."""

    def regex_variable(match: re.Match[str]) -> str:
        name = match.group(1)
        return "/^" + _regex_value(model, name, selection[name]) + "$/"

    text = _REGEX_VARIABLE.sub(regex_variable, query)
    text = text.replace("$timeFilter", time_range).replace("${timeFilter}", time_range)
    text = text.replace("$__interval_ms", str(_milliseconds(interval)))
    text = text.replace("$__interval", interval)
    if "$" in text.replace("$/", ""):
        raise AssertionError(f"uninterpolated variable left in {text!r}")
    return text


def _milliseconds(interval: str) -> int:
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", interval)
    if match is None:
        raise ValueError(f"interval {interval!r}")
    return int(match.group(1)) * units[match.group(2)]


@dataclass(frozen=True)
class _Matcher:
    kind: str
    value: Any

    def __call__(self, cell: Any) -> bool:
        if self.kind == "equal":
            return bool(cell == self.value)
        if self.kind == "notEqual":
            return bool(cell != self.value)
        if self.kind == "regex":
            return cell is not None and re.search(str(self.value), str(cell)) is not None
        if self.kind == "isNull":
            return cell is None
        if self.kind == "isNotNull":
            return cell is not None
        raise AssertionError(f"filterByValue matcher {self.kind!r} is not reproduced here")


def _group_by(rows: list[Row], fields: Mapping[str, Any]) -> list[Row]:
    keys = [name for name, spec in fields.items() if spec.get("operation") == "groupby"]
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(key) for key in keys), []).append(row)
    out = []
    for key, members in groups.items():
        result = dict(zip(keys, key, strict=True))
        for name, spec in fields.items():
            if spec.get("operation") != "aggregate":
                continue
            column = [member.get(name) for member in members]
            for reducer in spec.get("aggregations", []):
                result[f"{name} ({reducer})"] = _reduce(reducer, column)
        out.append(result)
    return out


def _reduce(reducer: str, column: list[Any]) -> Any:
    if reducer == "last":
        return column[-1]
    if reducer == "first":
        return column[0]
    if reducer == "count":
        return len(column)
    if reducer == "lastNotNull":
        return next((value for value in reversed(column) if value is not None), None)
    raise AssertionError(f"groupBy reducer {reducer!r} is not reproduced here")


def _filter_by_value(rows: list[Row], options: Mapping[str, Any]) -> list[Row]:
    tests = [
        (item["fieldName"], _Matcher(item["config"]["id"], item["config"]["options"].get("value")))
        for item in options["filters"]
    ]
    combine = all if options.get("match") == "all" else any
    include = options.get("type", "include") == "include"
    return [
        row for row in rows
        if combine(matcher(row.get(field)) for field, matcher in tests) == include
    ]


def _organize(rows: list[Row], options: Mapping[str, Any]) -> list[Row]:
    renames = options.get("renameByName", {})
    excluded = {name for name, hide in options.get("excludeByName", {}).items() if hide}
    return [
        {renames.get(name, name): value for name, value in row.items() if name not in excluded}
        for row in rows
    ]


def _sort_by(rows: list[Row], options: Mapping[str, Any]) -> list[Row]:
    for rule in reversed(options.get("sort", [])):
        field, desc = rule["field"], bool(rule.get("desc"))
        present = [row for row in rows if row.get(field) is not None]
        missing = [row for row in rows if row.get(field) is None]
        rows = sorted(present, key=lambda row: row[field], reverse=desc) + missing
    return rows


def transform(rows: list[Row], transformations: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Apply a panel's transformations, in order, to its table rows."""
    for step in transformations:
        kind, options = step["id"], step.get("options", {})
        if step.get("disabled"):
            continue
        if kind == "groupBy":
            rows = _group_by(rows, options["fields"])
        elif kind == "filterByValue":
            rows = _filter_by_value(rows, options)
        elif kind == "organize":
            rows = _organize(rows, options)
        elif kind == "sortBy":
            rows = _sort_by(rows, options)
        else:
            raise AssertionError(f"transformation {kind!r} is not reproduced here")
    return rows
