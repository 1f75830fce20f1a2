"""Turn pydantic errors into path-named problems: `devices[1].points[4].word_order: ...`."""

from __future__ import annotations

from pydantic import ValidationError

from fireroom.errors import ConfigProblem

__all__ = ["format_path", "problems_from"]


def format_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("tcp",):
            continue  # tagged-union branch names are noise in a path
        else:
            path += f".{part}" if path else str(part)
    return path


def problems_from(
    error: ValidationError, prefix: tuple[int | str, ...] = ()
) -> list[ConfigProblem]:
    problems = []
    for item in error.errors():
        location = prefix + tuple(item["loc"])
        message = item["msg"]
        if item["type"] == "enum":
            expected = item.get("ctx", {}).get("expected", "")
            message = f"{item['input']!r} is not one of {expected}"
        elif item["type"] not in ("missing", "extra_forbidden") and "input" in item:
            message = f"{item['input']!r}: {message}"
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(ConfigProblem(format_path(location), message))
    return problems
