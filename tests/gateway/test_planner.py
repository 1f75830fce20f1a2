"""Read planning: merging, limits, multi-register points, shared status words."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fireroom.codec import DataType, encode
from fireroom.config import parse_site
from fireroom.domain import Quality
from fireroom.points import PointSpec, Table
from gateway.planner import ReadRequest, plan


def point(name: str, address: int, **fields: Any) -> PointSpec:
    return PointSpec.model_validate({"name": name, "address": address, **fields})


def ranges(requests: list[ReadRequest]) -> list[tuple[str, int, int]]:
    return [(r.table.value, r.address, r.count) for r in requests]


def test_contiguous_points_merge_and_gaps_split() -> None:
    points = [point("a", 0), point("b", 1), point("c", 2), point("d", 10), point("e", 11)]
    assert ranges(plan(points)) == [("holding", 0, 3), ("holding", 10, 2)]


def test_unsorted_input_is_sorted() -> None:
    points = [point("c", 2), point("a", 0), point("b", 1)]
    (request,) = plan(points)
    assert [(d.name, start, stop) for d, start, stop in request.slices] == [
        ("a", 0, 1), ("b", 1, 2), ("c", 2, 3)]


def test_bits_of_one_status_word_share_a_register() -> None:
    points = [point(f"b{i}", 5, type="bit", bit=i) for i in range(16)] + [point("next", 6)]
    (request,) = plan(points)
    assert (request.address, request.count) == (5, 2)
    readings = request.decode([0b1000_0000_0000_0101, 42])
    values = {r.point: r.value for r in readings}
    assert values["b0"] is True
    assert values["b1"] is False
    assert values["b2"] is True
    assert values["b15"] is True
    assert values["next"] == 42


def test_overlapping_multi_register_points() -> None:
    # A u32 and a u16 view of its high word: overlapping ranges are one request.
    points = [point("whole", 20, type="u32"), point("high", 20), point("after", 22)]
    assert ranges(plan(points)) == [("holding", 20, 3)]


def test_tables_are_planned_separately_in_fixed_order() -> None:
    points = [
        point("coil", 0, table="coil", type="coil"),
        point("din", 0, table="discrete", type="discrete"),
        point("inp", 0, table="input"),
        point("hold", 0),
    ]
    requests = plan(points)
    assert ranges(requests) == [
        ("holding", 0, 1), ("input", 0, 1), ("coil", 0, 1), ("discrete", 0, 1)]
    assert [r.function_code for r in requests] == [3, 4, 1, 2]


def test_register_limit_125() -> None:
    points = [point(f"p{i}", i) for i in range(300)]
    requests = plan(points)
    assert ranges(requests) == [("holding", 0, 125), ("holding", 125, 125), ("holding", 250, 50)]


def test_multi_register_point_is_never_split() -> None:
    points = [point(f"p{i}", i) for i in range(124)] + [point("u32", 124, type="u32")]
    requests = plan(points)
    assert ranges(requests) == [("holding", 0, 124), ("holding", 124, 2)]
    assert requests[1].slices[0][1:] == (0, 2)


def test_small_device_limit() -> None:
    points = [point(f"f{i}", i * 2, type="f32") for i in range(5)]
    assert ranges(plan(points, max_registers=4)) == [
        ("holding", 0, 4), ("holding", 4, 4), ("holding", 8, 2)]


def test_point_larger_than_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit 1"):
        plan([point("u32", 0, type="u32")], max_registers=1)


def test_bit_limit_2000() -> None:
    points = [point(f"c{i}", i, table="coil", type="coil") for i in range(4500)]
    requests = plan(points)
    assert ranges(requests) == [("coil", 0, 2000), ("coil", 2000, 2000), ("coil", 4000, 500)]
    assert plan(points, max_bits=1000)[0].count == 1000


def test_decode_uses_precomputed_slices() -> None:
    points = [point("u16", 0), point("f32", 1, type="f32"), point("i16", 3, type="i16")]
    (request,) = plan(points)
    words = [7, *encode(2.5, DataType.F32), 0xFFFE]
    assert [(r.point, r.value) for r in request.decode(words)] == [
        ("u16", 7), ("f32", 2.5), ("i16", -2)]


def test_unusable_marks_every_point() -> None:
    (request,) = plan([point("a", 0), point("b", 1)])
    readings = request.unusable(Quality.BAD)
    assert [(r.point, r.value, r.quality) for r in readings] == [
        ("a", None, Quality.BAD), ("b", None, Quality.BAD)]


def test_example_site_plans_few_requests(repo_root: Any) -> None:
    from fireroom.config import load_site

    site = load_site(repo_root / "examples" / "site.yaml")
    pump = [r for r in plan(site.points["pump-1"]) if r.table is Table.HOLDING]
    assert ranges(pump) == [("holding", 0, 5), ("holding", 10, 9), ("holding", 20, 6)]
    facp = [r for r in plan(site.points["facp-1"]) if r.table is Table.HOLDING]
    assert ranges(facp)[-1] == ("holding", 100, 66)
    ai = [r for r in plan(site.points["ai-1"]) if r.table is Table.INPUT]
    assert ranges(ai)[0] == ("input", 0, 3)
    for device_id, points in site.points.items():
        planned = {d.name for r in plan(points) for d, _, _ in r.slices}
        assert planned == {p.name for p in points}, device_id


def test_parse_site_points_feed_the_planner() -> None:
    site = parse_site({
        "site": {"id": "plan-site"},
        "devices": [{"id": "d", "profile": "electric-pump-controller",
                     "transport": {"type": "tcp", "host": "127.0.0.1"}, "max_registers": 8}],
    })
    requests = plan(site.points["d"], max_registers=site.device("d").max_registers)
    assert max(r.count for r in requests) <= 8


def test_small_gaps_merge_up_to_max_gap() -> None:
    points = [point("a", 0), point("b", 4), point("c", 20)]
    assert ranges(plan(points, max_gap=3)) == [("holding", 0, 5), ("holding", 20, 1)]
    assert ranges(plan(points, max_gap=2)) == [("holding", 0, 1), ("holding", 4, 1),
                                               ("holding", 20, 1)]
    assert ranges(plan(points, max_gap=15)) == [("holding", 0, 21)]


def test_gap_merging_respects_the_register_limit() -> None:
    points = [point(f"p{a}", a) for a in range(0, 160, 20)]
    assert ranges(plan(points, max_gap=19)) == [("holding", 0, 121), ("holding", 140, 1)]


def test_bits_merge_across_their_own_gap() -> None:
    points = [point("a", 0, table="coil", type="coil"), point("b", 50, table="coil", type="coil")]
    assert ranges(plan(points, max_gap=8, max_bit_gap=64)) == [("coil", 0, 51)]
    assert len(plan(points, max_gap=8, max_bit_gap=10)) == 2


class Illegal:
    def __init__(self, first: int, last: int, table: Table = Table.HOLDING) -> None:
        self.table, self.first, self.last = table, first, last


def test_never_reads_across_an_illegal_range() -> None:
    points = [point("a", 0), point("b", 4), point("c", 8)]
    requests = plan(points, max_gap=8, illegal=[Illegal(5, 6)])
    assert ranges(requests) == [("holding", 0, 5), ("holding", 8, 1)]
    # An illegal range of another table changes nothing here.
    assert ranges(plan(points, max_gap=8, illegal=[Illegal(5, 6, Table.INPUT)])) == [
        ("holding", 0, 9)]


def test_a_point_inside_an_illegal_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="'b' at holding 5 lies in a range the profile marks"):
        plan([point("a", 0), point("b", 5, type="u32")], illegal=[Illegal(6, 9)])


def test_split_gives_back_the_gap_free_parts() -> None:
    points = [point("a", 0), point("b", 1, type="u32"), point("c", 6), point("d", 9, bit=0,
              type="bit"), point("e", 9, bit=3, type="bit")]
    (merged,) = plan(points, max_gap=8)
    assert merged.merged
    parts = merged.split()
    assert ranges(parts) == [("holding", 0, 3), ("holding", 6, 1), ("holding", 9, 1)]
    assert not any(part.merged for part in parts)
    words = [7, 0, 5, 0, 0, 0, 9, 0, 0, 0b1001]
    whole = {r.point: r.value for r in merged.decode(words)}
    pieces = {r.point: r.value
              for part in parts
              for r in part.decode(words[part.address:part.address + part.count])}
    assert whole == pieces == {"a": 7, "b": 5, "c": 9, "d": True, "e": True}


def test_profile_illegal_ranges_and_device_gap_settings_apply(tmp_path: Any) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "gappy.yaml").write_text(
        "name: gappy\nkind: analog_module\n"
        "points:\n  - {name: a, address: 0}\n  - {name: b, address: 6}\n"
        "  - {name: c, address: 12}\n"
        "illegal:\n  - {table: holding, first: 10, last: 11}\n"
    )
    from gateway.planner import plan_device

    site = parse_site({
        "site": {"id": "gappy"}, "profile_dirs": [str(profiles)],
        "devices": [
            {"id": "m1", "profile": "gappy", "transport": {"type": "tcp", "host": "127.0.0.1"}},
            {"id": "m2", "profile": "gappy", "transport": {"type": "tcp", "host": "127.0.0.1"},
             "max_gap": 0},
        ],
    })
    assert ranges(plan_device(site, site.device("m1"))) == [("holding", 0, 7), ("holding", 12, 1)]
    assert len(plan_device(site, site.device("m2"))) == 3


# --- reusing the readings of unchanged answers --------------------------------------------------

def reuse_points() -> list[PointSpec]:
    """Bits sharing a status word, a word the bits' word also feeds, a u32 across two words,
    an enumeration, a scaled number, a gap, and flags: one request of 10 registers."""
    return [
        *(point(f"bit{i}", 0, type="bit", bit=i) for i in (0, 1, 15)),
        point("word", 0, flags={0: "normal", 1: "fire", 15: "absent"}),
        point("count", 1, type="u32", word_order="CDAB"),
        point("mode", 3, enum={0: "off", 1: "auto"}),
        point("pressure", 4, scale=0.01),
        point("temperature", 5, type="i16", scale=0.1, offset=-40.0),
        point("zone", 9, flags={0: "normal", 2: "fault"}),
    ]


def fields(readings: list[Any]) -> list[tuple[object, ...]]:
    return [(r.point, type(r.value), r.value, r.quality, r.raw) for r in readings]


def test_an_unchanged_answer_gives_back_the_same_readings() -> None:
    (request,) = plan(reuse_points(), max_gap=8)
    words = [0b11, 5, 0, 1, 62, 300, 0, 0, 0, 4]
    first = request.decode(words)
    again = request.decode(list(words))
    assert again is first
    assert fields(again) == fields(plan(reuse_points(), max_gap=8)[0].decode(words))


def test_a_changed_word_decodes_only_the_points_that_read_it() -> None:
    (request,) = plan(reuse_points(), max_gap=8)
    words = [0b11, 5, 0, 1, 62, 300, 0, 0, 0, 4]
    before = request.decode(words)
    changed = list(words)
    changed[0] = 0b10  # the status word: the bits and the word view of it
    changed[2] = 1  # the u32's high word (CDAB)
    after = request.decode(changed)
    renewed = {r.point for r, old in zip(after, before, strict=True) if r is not old}
    # bit1 and bit15 read the changed word too, but a bit decodes to one of two readings.
    assert renewed == {"bit0", "word", "count"}
    assert fields(after) == fields(plan(reuse_points(), max_gap=8)[0].decode(changed))
    assert {r.point: r.value for r in after}["count"] == 65541
    assert before is not after  # the previous list is left as it was
    assert fields(before) == fields(plan(reuse_points(), max_gap=8)[0].decode(words))


def test_answers_decode_as_a_new_request_would() -> None:
    rng = random.Random(43)
    (request,) = plan(reuse_points(), max_gap=8)
    words = [rng.randrange(0x10000) for _ in range(request.count)]
    for _ in range(500):
        # Mostly quiet answers, now and then a few words, now and then all of them.
        roll = rng.random()
        changes = 0 if roll < 0.3 else request.count if roll > 0.9 else rng.randint(1, 3)
        for index in rng.sample(range(request.count), changes):
            words[index] = rng.choice([0, 1, 0x8000, 0xFFFF, rng.randrange(0x10000)])
        fresh = plan(reuse_points(), max_gap=8)[0]
        assert fields(request.decode(list(words))) == fields(fresh.decode(words))


def test_bits_tables_reuse_too() -> None:
    points = [point(f"c{i}", i, table="coil", type="coil") for i in range(12)]
    (request,) = plan(points)
    bits = [i % 3 == 0 for i in range(12)]
    first = request.decode(bits)
    assert request.decode(list(bits)) is first
    bits[4] = True
    second = request.decode(bits)
    assert [r is old for r, old in zip(second, first, strict=True)] == [i != 4 for i in range(12)]
    assert [r.value for r in second] == bits


def test_an_answer_of_another_length_is_decoded_afresh() -> None:
    (request,) = plan([point("a", 0), point("b", 1)])
    request.decode([1, 2])
    with pytest.raises(IndexError):
        request.decode([3])  # b's word is missing, as before
    assert [r.value for r in request.decode([1, 2])] == [1, 2]


def test_unusable_readings_are_made_once_per_quality() -> None:
    (request,) = plan([point("a", 0), point("b", 1)])
    bad = request.unusable(Quality.BAD)
    assert request.unusable(Quality.BAD) is bad
    assert [(r.point, r.value, r.quality) for r in bad] == [
        ("a", None, Quality.BAD), ("b", None, Quality.BAD)]
    assert [r.quality for r in request.unusable(Quality.COMM_LOST)] == [Quality.COMM_LOST] * 2
