"""Turn pydantic errors into path-named problems: `devices[1].points[4].word_order: ...`."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from fireroom.errors import ConfigProblem

__all__ = ["format_path", "problems_from"]

# pydantic puts the branch a tagged union took into the path (`transport.mqtt.topic`); the
# config never says it, so a path that shows it points at nothing the site wrote.
_BRANCHES = frozenset({"tcp", "rtu", "mqtt", "serial", "rtu-over-tcp"})


def format_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for index, part in enumerate(location):
        if part in _BRANCHES and index > 0:
            continue  # first, it is the site's own `mqtt:` section
        path = _append(path, part)
    return path


def _append(path: str, part: int | str) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _message(item: Mapping[str, object]) -> str:
    kind, message = item["type"], str(item["msg"])
    value = item.get("input")
    context = item.get("ctx")
    ctx = context if isinstance(context, Mapping) else {}
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "enum":
        return f"{value!r} is not one of {ctx.get('expected', '')}"
    if kind == "union_tag_invalid":
        return f"type {ctx.get('tag')!r} is not one of {ctx.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return f"needs {ctx.get('discriminator', 'a type')}"
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        if isinstance(value, Mapping):
            return message  # a check across fields: the whole mapping is no help
    if kind != "missing" and "input" in item:
        return f"{value!r}: {message}"
    return message


def problems_from(
    error: ValidationError, prefix: tuple[int | str, ...] = ()
) -> list[ConfigProblem]:
    problems = []
    for item in error.errors():
        location = prefix + tuple(item["loc"])
        if item["type"] == "extra_forbidden" and location:
            # The last part is a key the site wrote, even one named like a branch.
            path = _append(format_path(location[:-1]), location[-1])
        else:
            path = format_path(location)
        problems.append(ConfigProblem(path, _message(item)))
    return problems
