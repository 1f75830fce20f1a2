"""Report by exception: changes only, deadbands, integrity snapshots; and the consumers' side."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from fireroom.clock import SimulatedClock
from fireroom.config import ReportSettings
from fireroom.domain import Quality, Reading
from fireroom.points import PointSpec
from fireroom.telemetry import Reassembly, Telemetry, decode, encode
from gateway.poller import Scan
from gateway.report import ExceptionReporter
from tests.gateway.modbus import make_site, sim_server, write_profile
from tests.gateway.test_service import collect, gateway, is_telemetry, running
from tests.servers import Broker, free_port

POINTS = [
    PointSpec(name="pressure", address=0, deadband=0.01),
    PointSpec(name="level", address=1),
    PointSpec(name="status", address=2, flags={0: "normal", 1: "fire"}),
]


def reporter(clock: SimulatedClock, **settings: object) -> ExceptionReporter:
    config = ReportSettings.model_validate({"by_exception": True, **settings})
    return ExceptionReporter(config, POINTS, clock)


def scan(
    seq: int,
    pressure: float | None,
    level: float,
    status: list[str],
    quality: Quality = Quality.GOOD,
) -> Scan:
    readings = [
        Reading("pressure", pressure, quality),
        Reading("level", level, Quality.GOOD),
        Reading("status", status, Quality.GOOD),
    ]
    return Scan("d1", 1000.0 + seq, seq, readings, ok=True)


def names(result: Scan) -> list[str]:
    return [reading.point for reading in result.readings]


def test_first_scan_is_full_then_only_changes() -> None:
    clock = SimulatedClock()
    r = reporter(clock, integrity_seconds=60)
    first = r.filter(scan(1, 0.60, 3.0, ["normal"]))
    assert first.full is True
    assert names(first) == ["pressure", "level", "status"]
    clock.advance(1)
    same = r.filter(scan(2, 0.605, 3.0, ["normal"]))  # pressure within its 0.01 deadband
    assert same.full is False
    assert same.readings == []
    assert (same.seq, same.ts) == (2, 1002.0)  # still a message: the device answers
    clock.advance(1)
    fire = r.filter(scan(3, 0.605, 3.0, ["fire"]))
    assert names(fire) == ["status"]
    assert fire.readings[0].value == ["fire"]
    assert r.suppressed == 5


def test_deadband_is_measured_from_the_value_last_sent() -> None:
    clock = SimulatedClock()
    r = reporter(clock)
    r.filter(scan(1, 0.600, 3.0, ["normal"]))
    sent = []
    for seq, pressure in enumerate([0.606, 0.608, 0.612, 0.615, 0.625], start=2):
        sent.append(names(r.filter(scan(seq, pressure, 3.0, ["normal"]))))
    # A slow drift is reported once it adds up past the deadband, then from the new value.
    assert sent == [[], [], ["pressure"], [], ["pressure"]]


def test_device_deadband_applies_where_the_point_sets_none() -> None:
    clock = SimulatedClock()
    r = reporter(clock, deadband=0.5)
    r.filter(scan(1, 0.6, 3.0, ["normal"]))
    assert names(r.filter(scan(2, 0.6, 3.4, ["normal"]))) == []
    assert names(r.filter(scan(3, 0.6, 3.6, ["normal"]))) == ["level"]


def test_quality_change_is_always_sent() -> None:
    clock = SimulatedClock()
    r = reporter(clock)
    r.filter(scan(1, 0.6, 3.0, ["normal"]))
    changed = r.filter(scan(2, 0.6, 3.0, ["normal"], quality=Quality.OUT_OF_RANGE))
    assert names(changed) == ["pressure"]


def test_integrity_snapshot_every_n_seconds() -> None:
    clock = SimulatedClock()
    r = reporter(clock, integrity_seconds=10)
    fulls = []
    for seq in range(1, 32):
        fulls.append(r.filter(scan(seq, 0.6, 3.0, ["normal"])).full)
        clock.advance(1)
    assert [seq for seq, full in enumerate(fulls, start=1) if full] == [1, 11, 21, 31]
    assert names(r.filter(scan(32, 0.6, 3.0, ["normal"]))) == []


def test_lost_device_is_sent_in_full_and_its_return_too() -> None:
    clock = SimulatedClock()
    r = reporter(clock)
    r.filter(scan(1, 0.6, 3.0, ["normal"]))
    lost = Scan(
        "d1", 1002.0, 2, [Reading(p.name, None, Quality.COMM_LOST) for p in POINTS], ok=False
    )
    out = r.filter(lost)
    assert out.full is True
    assert {reading.quality for reading in out.readings} == {Quality.COMM_LOST}
    back = r.filter(scan(3, 0.6, 3.0, ["normal"]))
    # Every point changed from comm_lost back to good: every point is sent.
    assert names(back) == ["pressure", "level", "status"]


def test_a_reused_reading_is_skipped_by_identity() -> None:
    clock = SimulatedClock()
    r = reporter(clock)
    first = scan(1, 0.6, 3.0, ["normal"])
    r.filter(first)
    again = Scan("d1", 1002.0, 2, list(first.readings), ok=True)
    assert r.filter(again).readings == []


def test_partial_scans_get_every_point_heard_in_the_snapshot() -> None:
    clock = SimulatedClock()
    r = reporter(clock, integrity_seconds=5)
    r.filter(Scan("d1", 1.0, 1, [Reading("pressure", 0.6, Quality.GOOD)], ok=True, full=False))
    r.filter(Scan("d1", 2.0, 2, [Reading("level", 3.0, Quality.GOOD)], ok=True, full=False))
    clock.advance(5)
    snapshot = r.filter(
        Scan("d1", 7.0, 3, [Reading("level", 3.1, Quality.GOOD)], ok=True, full=False)
    )
    assert snapshot.full is True
    assert {(x.point, x.value) for x in snapshot.readings} == {("pressure", 0.6), ("level", 3.1)}


def test_full_flag_round_trips_and_is_absent_without_exception_reporting() -> None:
    plain = Telemetry("s", "d", 1.0, 1, [Reading("a", 1, Quality.GOOD)])
    assert b'"full"' not in encode(plain)
    assert decode(encode(plain)).full is None
    partial = Telemetry("s", "d", 1.0, 1, [], full=False)
    assert decode(encode(partial)).full is False


def test_reassembly_completes_partial_messages() -> None:
    reassembly = Reassembly()
    full = Telemetry(
        "s",
        "d",
        1.0,
        1,
        [Reading("a", 1, Quality.GOOD), Reading("b", ["normal"], Quality.GOOD)],
        full=True,
    )
    assert reassembly.complete(full) is full
    partial = reassembly.complete(
        Telemetry("s", "d", 2.0, 2, [Reading("b", ["fire"], Quality.GOOD)], full=False)
    )
    assert (partial.ts, partial.seq) == (2.0, 2)
    assert {x.point: x.value for x in partial.readings} == {"a": 1, "b": ["fire"]}
    plain = Telemetry("s", "other", 1.0, 1, [])
    assert reassembly.complete(plain) is plain


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    return write_profile(tmp_path / "profiles")


async def test_gateway_publishes_changes_and_snapshots(mosquitto: Broker, profiles: Path) -> None:
    port = free_port()
    site = make_site(
        "rbe", profiles, {"unit-1": port}, report={"by_exception": True, "integrity_seconds": 1.0}
    )
    async with (
        sim_server(port) as sim,
        collect(mosquitto, site.id) as inbox,
        running(gateway(site, mosquitto)),
    ):
        await inbox.wait_for(lambda m: len(inbox.telemetry("unit-1")) >= 3)
        sim.holding[2] = 75  # pressure 0.62 -> 0.75 MPa
        changed = await inbox.wait_for(
            lambda m: (
                is_telemetry("unit-1")(m)
                and "pressure" in m.json()["readings"]
                and m.json()["full"] is False
            )
        )
        # Wait for a snapshot after the change, then one more partial message.
        after = len(inbox.telemetry("unit-1"))
        await inbox.wait_for(lambda m: any(t.full for t in inbox.telemetry("unit-1")[after:]))
        await inbox.wait_for(lambda m: not inbox.telemetry("unit-1")[-1].full)
    messages = inbox.telemetry("unit-1")
    assert messages[0].full is True
    assert len(messages[0].readings) == 11
    partial = [t for t in messages if t.full is False]
    full = [t for t in messages if t.full is True]
    assert len(full) >= 2
    assert all(len(t.readings) == 11 for t in full)
    # Partial messages carry only changes: the pressure change, nothing else.
    assert changed.json()["readings"] == {"pressure": [0.75, "good"]}
    assert {len(t.readings) for t in partial} <= {0, 1}
    # Timestamps and sequence numbers only increase.
    assert [t.seq for t in messages] == sorted(t.seq for t in messages)
    assert all(b.ts > a.ts for a, b in itertools.pairwise(messages))
    # A consumer reassembling the stream ends with the device's current state.
    reassembly = Reassembly()
    state = {r.point: r.value for r in [reassembly.complete(t) for t in messages][-1].readings}
    assert state["pressure"] == pytest.approx(0.75)
    assert len(state) == 11


def test_rules_take_a_partial_message_as_a_sign_of_life(profiles: Path) -> None:
    from services.rules.engine import RulesEngine

    site = make_site("rbe-rules", profiles, {"unit-1": 5020},
                     report={"by_exception": True})
    clock = SimulatedClock()
    engine = RulesEngine(site, clock)
    full = Telemetry(site.id, "unit-1", clock.now(), 1,
                     [Reading("pressure", 0.62, Quality.GOOD)], full=True)
    assert engine.evaluate(full) == []
    for seq in range(2, 12):
        clock.advance(1.0)  # ten poll intervals of nothing changed
        assert engine.evaluate(Telemetry(site.id, "unit-1", clock.now(), seq, [], full=False)) == []
        assert engine.tick() == []
    clock.advance(10.0)  # now real silence
    assert [t.rule for t in engine.tick()] == ["comm_loss"]
