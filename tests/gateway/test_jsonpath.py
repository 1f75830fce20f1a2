"""The JSON path language of MQTT device points."""

from __future__ import annotations

import pytest

from fireroom.jsonpath import JsonPath, MissingValue, parse_path

DOCUMENT = {
    "status": {"system": 3, "words": [1, 2, {"deep": True}]},
    "ch": [{"ma": 12.0}, {"ma": None}],
    "état": {"压力": 0.62},
    "a-b_c": 1,
}


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("status", ("status",)),
        ("status.system", ("status", "system")),
        ("ch[0].ma", ("ch", 0, "ma")),
        ("$.ch[1].ma", ("ch", 1, "ma")),
        ("status.words[2].deep", ("status", "words", 2, "deep")),
        ("m[10][0]", ("m", 10, 0)),
        ("a-b_c.0", ("a-b_c", "0")),
        ("état.压力", ("état", "压力")),
    ],
)
def test_parses_keys_and_indexes(text: str, parts: tuple[str | int, ...]) -> None:
    path = parse_path(text)
    assert path == JsonPath(parts)
    assert str(path) == text.removeprefix("$.")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "expected a key at 0, found the end"),
        ("$", "expected a key at 0, found '$'"),
        ("$.", "expected a key at 2, found the end"),
        ("a..b", "expected a key at 2, found '.'"),
        ("a.", "expected a key at 2, found the end"),
        (".a", "expected a key at 0, found '.'"),
        ("[0].a", "expected a key at 0, found '['"),
        ("a[", "expected an index like [0] at 1, found '['"),
        ("a[-1]", "expected an index like [0] at 1"),
        ("a[01]", "expected an index like [0] at 1"),
        ("a[x]", "expected an index like [0] at 1"),
        ("a.[0]", "expected a key at 2, found '['"),
        ("a[0]b", "expected '.key' or '[index]' at 4, found 'b'"),
        ("a b", "expected '.key' or '[index]' at 1, found ' '"),
        ("a.*", "expected a key at 2, found '*'"),
        ("$.a[0", "expected an index like [0] at 3"),
    ],
)
def test_rejects_what_is_not_a_path(text: str, where: str) -> None:
    with pytest.raises(ValueError, match="is not a JSON path") as caught:
        parse_path(text)
    assert where in str(caught.value)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("status.system", 3),
        ("status.words[1]", 2),
        ("status.words[2].deep", True),
        ("ch[0].ma", 12.0),
        ("ch[1].ma", None),  # present and null: the point's value is null, not missing
        ("status", {"system": 3, "words": [1, 2, {"deep": True}]}),
        ("$.état.压力", 0.62),
    ],
)
def test_extracts_the_value(text: str, value: object) -> None:
    assert parse_path(text).extract(DOCUMENT) == value


@pytest.mark.parametrize(
    "text",
    [
        "nothing",
        "status.nothing",
        "status.words[3]",
        "ch[5].ma",
        "status[0]",  # an index into an object
        "ch.ma",  # a key into an array
        "status.system.bit",  # a key into a number
        "a-b_c[0]",
    ],
)
def test_missing_key_or_index_is_missing(text: str) -> None:
    with pytest.raises(MissingValue):
        parse_path(text).extract(DOCUMENT)
