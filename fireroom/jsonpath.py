"""Where a point's value sits in an MQTT device's JSON: `status.system`, `ch[0].ma`, `$.a.b`.

A deliberately small language: object keys joined by dots, array indexes in brackets, an
optional leading `$.`. No wildcards, filters or quoting: one path names one value, so a config
mistake is caught when the site is loaded rather than discovered as a silent mismatch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["JsonPath", "MissingValue", "parse_path"]

# Keys are letters (any script), digits, `_` and `-`: what device firmware uses in practice.
_KEY = re.compile(r"[\w-]+")
_INDEX = re.compile(r"\[(0|[1-9][0-9]{0,5})\]")


class MissingValue(LookupError):
    """The message does not hold the path: the point is absent from it, nothing worse."""


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A parsed path: object keys (str) and array indexes (int), outermost first."""

    parts: tuple[str | int, ...]

    def extract(self, document: object) -> object:
        """The value at this path; `MissingValue` when a key or index is not there."""
        value = document
        for part in self.parts:
            if isinstance(part, int):
                if not isinstance(value, list) or part >= len(value):
                    raise MissingValue(self)
                value = value[part]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                raise MissingValue(self)
        return value

    def __str__(self) -> str:
        text = ""
        for part in self.parts:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text


def parse_path(text: str) -> JsonPath:
    """Parse `a.b[0].c` (optionally `$.a...`); ValueError says where it went wrong."""
    body = text.removeprefix("$.")
    offset = len(text) - len(body)
    parts: list[str | int] = []
    position = 0
    # A message is a JSON object, so a path always starts with a key.
    expect_key = True
    while position < len(body):
        if expect_key:
            match = _KEY.match(body, position)
            if match is None:
                raise ValueError(_where(text, offset + position, "a key"))
            parts.append(match.group())
            position = match.end()
            expect_key = False
            continue
        if body[position] == ".":
            position += 1
            expect_key = True
            continue
        match = _INDEX.match(body, position)
        if match is None:
            expected = "an index like [0]" if body[position] == "[" else "'.key' or '[index]'"
            raise ValueError(_where(text, offset + position, expected))
        parts.append(int(match.group(1)))
        position = match.end()
    if expect_key:
        raise ValueError(_where(text, offset + position, "a key"))
    return JsonPath(tuple(parts))


def _where(text: str, position: int, expected: str) -> str:
    found = repr(text[position]) if position < len(text) else "the end"
    return f"{text!r} is not a JSON path: expected {expected} at {position}, found {found}"
