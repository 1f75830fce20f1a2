"""Scans to `reading` lines: tags, raw codes of enumerations and flag words, lost devices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fireroom.config import Site, load_site
from fireroom.domain import Quality, Reading
from gateway.influx import BufferedWriter, DiskBuffer, InfluxSink, V1Transport
from gateway.poller import Scan

Example = tuple[Site, InfluxSink]
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "site.yaml"


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Example]:
    site = load_site(EXAMPLE)
    writer = BufferedWriter(
        V1Transport("http://127.0.0.1:9", database="unused"),
        DiskBuffer(tmp_path / "b.sqlite3", max_bytes=1_000_000),
    )
    yield site, InfluxSink(site, writer)
    writer.buffer.close()


def lines_of(sink: InfluxSink, scan: Scan) -> list[str]:
    sink.scan(scan)
    lines, sink.writer._pending = sink.writer._pending, []
    return lines


def test_enumerations_and_flag_words_carry_their_raw_code(example: Example) -> None:
    _, sink = example
    scan = Scan("pump-1", 1764130000.125, 1, [
        Reading("mode", "manual", Quality.GOOD),
        Reading("alarms", ["fail_to_start", "power_loss"], Quality.GOOD),
        Reading("alarms", [], Quality.GOOD),
        Reading("running", True, Quality.GOOD),
    ], ok=True)
    mode, alarms, no_alarms, running = lines_of(sink, scan)
    ts = "1764130000125000000"
    assert mode == ("reading,device=pump-1,kind=pump_mode,point=mode,site=tower-a "
                    f'quality="good",state="manual",value=2.0 {ts}')
    assert alarms.endswith(f'state="fail_to_start,power_loss",value=96.0 {ts}')  # bits 5, 6
    assert no_alarms.endswith(f'state="",value=0.0 {ts}')
    assert running.startswith("reading,device=pump-1,kind=pump_running,point=running,")
    assert running.endswith(f'quality="good",value=1.0 {ts}')


def test_kind_falls_back_from_role_to_kind_to_value(example: Example) -> None:
    _, sink = example
    scan = Scan("ai-1", 1.0, 1, [
        Reading("main_pressure", 0.62, Quality.GOOD, 10.2),
        Reading("module_temperature", 31.5, Quality.GOOD),
        Reading("not_in_config", 1.5, Quality.GOOD),
    ], ok=True)
    pressure, temperature, unknown = lines_of(sink, scan)
    assert pressure == ("reading,device=ai-1,kind=pressure,point=main_pressure,site=tower-a "
                        'quality="good",value=0.62,raw=10.2 1000000000')
    assert ",kind=value,point=module_temperature," in temperature
    assert ",kind=value,point=not_in_config," in unknown


def test_a_lost_device_is_written_lost_without_values(example: Example) -> None:
    site, sink = example
    names = [spec.name for spec in site.points["pump-1"]]
    scan = Scan("pump-1", 2.5, 7, [Reading(n, None, Quality.COMM_LOST) for n in names], ok=False)
    lines = lines_of(sink, scan)
    assert len(lines) == len(names)
    assert all(line.endswith(' quality="comm_lost" 2500000000') for line in lines)


def test_timestamps_are_whole_microseconds(example: Example) -> None:
    _, sink = example
    (line,) = lines_of(sink, Scan("ai-1", 1764130000.1234567, 1,
                                  [Reading("main_pressure", 0.5, Quality.GOOD)], ok=True))
    assert line.endswith(" 1764130000123457000")


def test_a_point_that_changes_is_written_as_it_now_is(example: Example) -> None:
    _, sink = example
    states: list[tuple[object, Quality, float | None]] = [
        (["normal"], Quality.GOOD, None), (["normal"], Quality.GOOD, None),
        (["normal", "fault"], Quality.GOOD, None), (["normal", "fault"], Quality.STALE, None),
        (None, Quality.COMM_LOST, None), (["normal"], Quality.GOOD, None),
    ]
    lines = [
        lines_of(sink, Scan("ai-1", float(n), n, [Reading("module_status", value, quality, raw)],
                            ok=True))[0]  # type: ignore[arg-type]
        for n, (value, quality, raw) in enumerate(states)
    ]
    fields = [line.split(" ")[1] for line in lines]
    assert fields[0] == fields[1] == fields[5]
    assert len({fields[0], fields[2], fields[3], fields[4]}) == 4
    assert fields[4] == 'quality="comm_lost"'
    assert [line.rsplit(" ", 1)[1] for line in lines] == [f"{n * 10**9}" for n in range(6)]
