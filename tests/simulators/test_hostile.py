"""The hostile proxy itself, byte for byte, in front of a real simulated device."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import yaml

from fireroom.clock import Clock, SimulatedClock, SystemClock
from fireroom.config import Site
from fireroom.errors import ConfigError
from simulators.errors import SimulatorError
from simulators.hostile import MIXED, Behaviour, HostileProxy, parse_hostile, run_hostile
from simulators.model import SiteModel
from simulators.runtime import SiteSimulator
from simulators.server import DeviceServer
from tests.servers import free_port, wait_for_port

pytestmark = pytest.mark.timeout(60)

HEADER = struct.Struct(">HHHB")
DEVICE = "facp-1"  # its panel registers stay put while no behaviour ticks


def ask(tid: int, function: int = 3, address: int = 100, count: int = 3) -> bytes:
    return struct.pack(">HHHBBHH", tid, 0, 6, 1, function, address, count)


async def until(condition: Callable[[], bool], polls: int = 500) -> None:
    """Wait, in bounded steps, until `condition` holds."""
    for _ in range(polls):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


class Conversation:
    """One raw Modbus TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, frame: bytes) -> None:
        self.writer.write(frame)
        await self.writer.drain()

    async def frame(self) -> bytes:
        header = await self.reader.readexactly(HEADER.size)
        return header + await self.reader.readexactly(HEADER.unpack(header)[2] - 1)

    async def exchange(self, frame: bytes) -> bytes:
        await self.send(frame)
        return await self.frame()

    async def rest(self) -> bytes:
        """Everything until the other side closes."""
        return await self.reader.read()


@contextlib.asynccontextmanager
async def talk(port: int) -> AsyncIterator[Conversation]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield Conversation(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@dataclasses.dataclass
class Rig:
    device: DeviceServer
    proxy: HostileProxy

    async def truth(self, frame: bytes) -> bytes:
        async with talk(self.device.port) as direct:
            return await direct.exchange(frame)


@contextlib.asynccontextmanager
async def rig(site: Site, *, seed: int = 0, clock: Clock | None = None) -> AsyncIterator[Rig]:
    server = DeviceServer(SiteModel(site).device(DEVICE), "127.0.0.1", 0)
    await server.start()
    try:
        async with HostileProxy(upstream_port=server.port, seed=seed, clock=clock) as proxy:
            yield Rig(server, proxy)
    finally:
        await server.stop()


class GateClock(SystemClock):
    """Sleeps last until the test opens the gate, and are recorded."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.gate = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self.gate.wait()


async def test_normal_relays_frames_unchanged(loopback_site: Site) -> None:
    async with rig(loopback_site) as r, talk(r.proxy.port) as c:
        answers = [await c.exchange(ask(tid)) for tid in (1, 2, 3)]
        truths = [await r.truth(ask(tid)) for tid in (1, 2, 3)]
    assert answers == truths
    assert HEADER.unpack_from(answers[0])[0] == 1
    assert answers[0][7:9] == b"\x03\x06"
    counts = r.proxy.counts
    assert (counts.connections, counts.requests, counts.passed, counts.mangled.total()) == (
        1, 3, 3, 0)


async def test_late_holds_the_answer_until_the_delay_has_passed(loopback_site: Site) -> None:
    clock = GateClock()
    async with rig(loopback_site, clock=clock) as r, talk(r.proxy.port) as c:
        r.proxy.behave("late", delay=5.0)
        await c.send(ask(7))
        await until(lambda: clock.slept == [5.0])
        assert r.proxy.counts.passed == 0
        assert r.proxy.counts.mangled["late"] == 1
        clock.gate.set()
        assert await c.frame() == await r.truth(ask(7))


@pytest.mark.parametrize(("tid", "answered"), [(None, 7 + 0x0101), (0, 0), (9, 9)])
async def test_wrong_tid_changes_only_the_transaction_id(
    loopback_site: Site, tid: int | None, answered: int
) -> None:
    async with rig(loopback_site) as r, talk(r.proxy.port) as c:
        r.proxy.behave("wrong_tid", tid=tid)
        answer = await c.exchange(ask(7))
        truth = await r.truth(ask(7))
    assert HEADER.unpack_from(answer)[0] == answered
    assert answer[2:] == truth[2:]


async def test_wrong_function_swaps_the_read(loopback_site: Site) -> None:
    async with rig(loopback_site) as r, talk(r.proxy.port) as c:
        r.proxy.behave("wrong_function")
        answer = await c.exchange(ask(1))
        truth = await r.truth(ask(1))
    assert answer[7] == 4
    assert answer[:7] + answer[8:] == truth[:7] + truth[8:]


async def test_short_frame_promises_more_then_the_connection_stays_mute(
    loopback_site: Site,
) -> None:
    async with rig(loopback_site) as r:
        truth = await r.truth(ask(1))
        async with talk(r.proxy.port) as c:
            r.proxy.behave("short")
            await c.send(ask(1))
            await until(lambda: r.proxy.counts.mangled["short"] == 1)
            r.proxy.behave("normal")
            await c.send(ask(2))  # answered by the device, swallowed by the proxy
            await until(lambda: r.proxy.counts.withheld == 1)
            await r.proxy.__aexit__(None, None, None)  # closing is the only way to see the end
            received = await c.rest()
    # The header is the true one and promises the whole PDU; only half of the PDU came.
    assert received == truth[: 7 + (len(truth) - 7) // 2]
    assert HEADER.unpack_from(received)[2] == len(truth) - 6


async def test_short_pdu_drops_data_under_a_consistent_header(loopback_site: Site) -> None:
    async with rig(loopback_site) as r, talk(r.proxy.port) as c:
        r.proxy.behave("short", cut="pdu")
        answer = await c.exchange(ask(1))
        again = await c.exchange(ask(2))  # the connection goes on
        truth = await r.truth(ask(1))
    assert answer[7:] == truth[7:-2]  # byte count still 6, four data bytes
    assert HEADER.unpack_from(answer)[2] == len(answer) - 6
    assert HEADER.unpack_from(again)[0] == 2


@pytest.mark.parametrize("offset", [2, -2])
async def test_wrong_byte_count_leaves_the_data(loopback_site: Site, offset: int) -> None:
    async with rig(loopback_site) as r, talk(r.proxy.port) as c:
        r.proxy.behave("wrong_byte_count", offset=offset)
        answer = await c.exchange(ask(1))
        truth = await r.truth(ask(1))
    assert answer[8] == truth[8] + offset
    assert answer[:8] + answer[9:] == truth[:8] + truth[9:]


async def test_drop_mid_frame_sends_half_and_closes(loopback_site: Site) -> None:
    async with rig(loopback_site) as r:
        truth = await r.truth(ask(1))
        async with talk(r.proxy.port) as c:
            r.proxy.behave("drop_mid_frame")
            await c.send(ask(1))
            received = await c.rest()
    assert received == truth[: len(truth) // 2]
    assert r.proxy.counts.dropped == 1


async def garbage(site: Site, seed: int, scope: str, asked: int) -> list[bytes]:
    async with rig(site, seed=seed) as r, talk(r.proxy.port) as c:
        r.proxy.behave("garbage", scope=scope)
        if scope == "frame":
            await c.send(ask(1, function=asked))
            await until(lambda: r.proxy.counts.mangled["garbage"] == 1)
            await r.proxy.__aexit__(None, None, None)
            return [await c.rest()]
        return [await c.exchange(ask(tid, function=asked)) for tid in range(1, 41)]


@pytest.mark.parametrize("asked", [3, 2])
async def test_garbage_pdu_is_never_a_proper_answer_and_repeats(
    loopback_site: Site, asked: int
) -> None:
    answers = await garbage(loopback_site, 5, "pdu", asked)
    for tid, answer in enumerate(answers, start=1):
        header_tid, protocol, length, unit = HEADER.unpack_from(answer)
        assert (header_tid, protocol, unit, length) == (tid, 0, 1, len(answer) - 6)
        assert answer[7] not in (asked, asked | 0x80)
    assert len(set(answers)) == len(answers)
    assert await garbage(loopback_site, 5, "pdu", asked) == answers


async def test_garbage_frame_replaces_the_whole_answer(loopback_site: Site) -> None:
    (received,) = await garbage(loopback_site, 5, "frame", 3)
    assert received
    assert received[:4] != b"\x00\x01\x00\x00"  # not the answer's header
    assert await garbage(loopback_site, 5, "frame", 3) == [received]


async def test_flap_refuses_then_serves_then_drops(loopback_site: Site) -> None:
    clock = SimulatedClock()
    async with rig(loopback_site, clock=clock) as r:
        r.proxy.behave("flap", down=1.0, up=2.0)
        async with talk(r.proxy.port) as refused:
            assert await refused.rest() == b""
        assert r.proxy.counts.refused == 1
        clock.advance(1.0)
        async with talk(r.proxy.port) as c:
            assert await c.exchange(ask(1)) == await r.truth(ask(1))
            clock.advance(2.0)  # down again: the next request ends the connection
            await c.send(ask(2))
            assert await c.rest() == b""
        clock.advance(1.5)
        async with talk(r.proxy.port) as again:
            assert HEADER.unpack_from(await again.exchange(ask(3)))[0] == 3
    counts = r.proxy.counts
    assert (counts.refused, counts.dropped, counts.connections) == (1, 1, 2)


async def test_every_nth_answer(loopback_site: Site) -> None:
    async with rig(loopback_site) as r, talk(r.proxy.port) as c:
        r.proxy.behave("wrong_function", every=3)
        functions = [(await c.exchange(ask(tid)))[7] for tid in range(1, 10)]
    assert functions == [3, 3, 4, 3, 3, 4, 3, 3, 4]
    assert (r.proxy.counts.passed, r.proxy.counts.mangled["wrong_function"]) == (6, 3)


async def test_probability_is_seeded(loopback_site: Site) -> None:
    runs = []
    for _ in range(2):
        async with rig(loopback_site, seed=11) as r, talk(r.proxy.port) as c:
            r.proxy.behave("wrong_function", probability=0.3)
            runs.append([(await c.exchange(ask(tid)))[7] for tid in range(1, 101)])
    assert runs[0] == runs[1]
    assert 10 < runs[0].count(4) < 60
    assert set(runs[0]) == {3, 4}


async def test_mix_uses_every_misbehaviour(loopback_site: Site) -> None:
    async with rig(loopback_site, seed=3) as r:
        r.proxy.behave("mix", delay=0.0, down=0.01)
        counts = r.proxy.counts
        tid = 0
        while counts.requests < 200:
            async with talk(r.proxy.port) as c:
                tid += 1
                with contextlib.suppress(OSError):  # refused while flapping
                    await c.send(ask(tid))
                # Whatever comes (a frame, part of one, nothing): move on once it is decided.
                await until(lambda sent=tid: counts.answers + counts.refused >= sent)
    assert set(counts.mangled) == set(MIXED)


@pytest.mark.parametrize("code", [4, 6, 10, 11])
async def test_exception_answers_the_code_for_the_asked_function(
    loopback_site: Site, code: int
) -> None:
    async with rig(loopback_site) as r, talk(r.proxy.port) as c:
        r.proxy.behave("exception", code=code)
        answer = await c.exchange(ask(5, function=3))
    assert HEADER.unpack_from(answer) == (5, 0, 3, 1)
    assert answer[7:] == bytes([0x83, code])
    assert r.proxy.counts.mangled["exception"] == 1


async def test_silent_keeps_the_connection_and_never_answers(loopback_site: Site) -> None:
    async with rig(loopback_site) as r, talk(r.proxy.port) as c:
        r.proxy.behave("silent")
        await c.send(ask(3))
        await until(lambda: r.proxy.counts.mangled["silent"] == 1)
        r.proxy.behave("normal")
        # The connection is still served: the next answer is the true one.
        assert await c.exchange(ask(4)) == await r.truth(ask(4))


def test_behave_rejects_what_it_cannot_do() -> None:
    proxy = HostileProxy(upstream_port=1)
    for mode, options in [("sulk", {}), ("late", {"delay": -1.0}), ("flap", {"down": 0.0}),
                          ("late", {"every": 0}), ("late", {"probability": 1.5}),
                          ("wrong_tid", {"tid": 70000}), ("short", {"cut": "middle"}),
                          ("late", {"speed": 2})]:
        with pytest.raises(SimulatorError):
            proxy.behave(mode, **options)  # type: ignore[arg-type]
    assert proxy.behaviour == Behaviour()


def test_parse_hostile() -> None:
    assert parse_hostile("pump-1=late:3.5") == ("pump-1", Behaviour("late", delay=3.5))
    assert parse_hostile("ai-1=flap:2/5,every=2") == (
        "ai-1", Behaviour("flap", down=2.0, up=5.0, every=2))
    assert parse_hostile("facp-1=mix,p=0.25") == ("facp-1", Behaviour("mix", probability=0.25))
    assert parse_hostile("x=wrong_byte_count:-3") == ("x", Behaviour("wrong_byte_count", offset=-3))
    assert parse_hostile("x=short:pdu")[1].cut == "pdu"
    assert parse_hostile("x=garbage:frame")[1].scope == "frame"
    assert parse_hostile("x=wrong_tid:0")[1].tid == 0
    assert parse_hostile("facp-1=exception:11")[1] == Behaviour("exception", code=11)
    for bad in ["late", "=late", "x=sulk", "x=late:soon", "x=wrong_function:2", "x=late,n=2",
                "x=garbage:all", "x=exception:0", "x=silent:3"]:
        with pytest.raises(SimulatorError):
            parse_hostile(bad)


async def test_run_hostile_puts_proxies_on_the_configured_ports(loopback_site: Site) -> None:
    configured = loopback_site.device(DEVICE).transport
    pump = loopback_site.device("pump-1").transport

    async def run(moved: Site) -> int:
        moved_to = moved.device(DEVICE).transport
        assert moved_to != configured
        assert moved.device("pump-1").transport == pump  # devices not named stay put
        async with SiteSimulator(moved) as sim:
            truth = await Rig(sim.server(DEVICE), HostileProxy(upstream_port=0)).truth(ask(1))
            async with talk(configured.port) as c:  # type: ignore[union-attr]
                answer = await c.exchange(ask(1))
        assert answer[7] == 4
        assert answer[8:] == truth[8:]
        return 3

    assert await run_hostile(loopback_site, [f"{DEVICE}=wrong_function"], run) == 3


async def test_run_hostile_reports_every_bad_spec(loopback_site: Site) -> None:
    async def run(moved: Site) -> int:
        raise AssertionError("must not run")

    with pytest.raises(ConfigError) as caught:
        await run_hostile(loopback_site, ["nope=late", "facp-1=sulk", "pump-1=late"], run)
    first, second = (str(problem) for problem in caught.value.problems)
    assert first == "nope=late: site 'tower-a' has no device 'nope'"
    assert second.startswith("'facp-1=sulk': unknown mode 'sulk'")


def site_file(directory: Path) -> tuple[Path, int]:
    """The example site on free loopback ports, written out; returns it and `DEVICE`'s port."""
    example = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    for device in data["devices"]:
        device["transport"]["port"] = free_port()
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    port = next(d["transport"]["port"] for d in data["devices"] if d["id"] == DEVICE)
    return path, port


async def first_answers(port: int, count: int) -> list[bytes]:
    """`count` answers on one connection, once the simulator behind the proxy answers."""
    for _ in range(200):
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            async with talk(port) as c:
                return [await c.exchange(ask(tid)) for tid in range(1, count + 1)]
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing answers on {port}")


async def test_cli_simulate_with_a_hostile_device(tmp_path: Path) -> None:
    config, port = site_file(tmp_path)
    command = [sys.executable, "-m", "fireroom.cli", "simulate", "--config", str(config),
               "--hostile", f"{DEVICE}=wrong_function,every=2"]
    log = tmp_path / "simulate.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(*command, stdout=out,
                                                       stderr=subprocess.STDOUT)
    try:
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
        functions = [answer[7] for answer in await first_answers(port, 4)]
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(15):
            code = await process.wait()
    assert functions == [3, 4, 3, 4], log.read_text()
    assert code == 0, log.read_text()


def test_cli_rejects_a_bad_hostile_spec(tmp_path: Path) -> None:
    config, _ = site_file(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "fireroom.cli", "simulate", "--config", str(config),
         "--hostile", "nope=late", "--duration", "1"], capture_output=True, text=True, check=False,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert "nope=late" in done.stderr
    assert "no device 'nope'" in done.stderr
