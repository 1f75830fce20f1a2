"""A Modbus TCP proxy that misbehaves on command, in front of a simulated device.

    async with HostileProxy(upstream_port=server.port) as proxy:
        proxy.behave("late", delay=2.0, every=3)   # every third answer 2 s late
        ...
        proxy.behave("normal")

Requests pass unchanged; answers are read as whole MBAP frames, so each one can be held back,
altered, cut or replaced exactly. `counts` records what the proxy did, for the tests.

The modes (`MODES`) and their options are those of `Behaviour`; simulators/README.md says
what each one sends and how the gateway reports it. `fireroom simulate --hostile` puts a proxy
in front of a site's device through `run_hostile`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import socket
import struct
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Self, cast, get_args

from fireroom.clock import Clock, SystemClock
from fireroom.config import Site, TcpTransport
from fireroom.errors import ConfigError, ConfigProblem
from simulators.errors import SimulatorError

__all__ = [
    "MIXED", "MODES", "Behaviour", "HostileProxy", "Mode", "ProxyCounts", "parse_hostile",
    "run_hostile",
]

log = logging.getLogger("fireroom.simulators")

Mode = Literal["normal", "late", "wrong_tid", "wrong_function", "short", "wrong_byte_count",
               "drop_mid_frame", "garbage", "flap", "mix", "exception", "silent"]
MODES: tuple[Mode, ...] = get_args(Mode)
# What `mix` chooses from, per answer.
MIXED: tuple[Mode, ...] = ("late", "wrong_tid", "wrong_function", "short", "wrong_byte_count",
                           "drop_mid_frame", "garbage", "flap")
_HEADER = struct.Struct(">HHHB")  # transaction id, protocol id, length, unit
_READS = frozenset({1, 2, 3, 4})
_OTHER_READ = {1: 2, 2: 1, 3: 4, 4: 3}
_MAX_PDU = 253


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How the proxy answers; the options a mode does not use are ignored."""

    mode: Mode = "normal"
    every: int = 1  # only every Nth answer misbehaves
    probability: float = 1.0  # and of those, this share (seeded)
    delay: float = 2.0  # late: seconds the answer is held
    tid: int | None = None  # wrong_tid: the id to answer with; another non-zero one when None
    # short: "frame", the header promises the whole answer, half is sent and the connection
    # stays mute; "pdu", the last data bytes are cut under a consistent header.
    cut: Literal["frame", "pdu"] = "frame"
    offset: int = 2  # wrong_byte_count: added to the byte count, the data left alone
    # garbage: "pdu", random PDU bytes in a valid header; "frame", random bytes for it all.
    scope: Literal["pdu", "frame"] = "pdu"
    down: float = 1.0  # flap: seconds refusing connections; mix: how long a flap lasts
    up: float = 2.0  # flap: seconds serving
    # exception: the code answered instead of the data; 4 device failure, 6 busy, 10 and 11 a
    # serial gateway whose device behind it is gone.
    code: int = 4

    def check(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"unknown mode {self.mode!r}; one of {', '.join(MODES)}")
        if self.every < 1:
            problems.append(f"every must be 1 or more, not {self.every}")
        if not 0.0 <= self.probability <= 1.0:
            problems.append(f"probability must be within 0..1, not {self.probability}")
        if self.delay < 0 or self.down <= 0 or self.up <= 0:
            problems.append("delay may not be negative, down and up must be positive")
        if self.tid is not None and not 0 <= self.tid <= 0xFFFF:
            problems.append(f"a transaction id is 0..65535, not {self.tid}")
        if not 1 <= self.code <= 0xFF:
            problems.append(f"an exception code is 1..255, not {self.code}")
        if self.cut not in ("frame", "pdu") or self.scope not in ("pdu", "frame"):
            problems.append("cut and scope are 'frame' or 'pdu'")
        if problems:
            raise SimulatorError("; ".join(problems))


@dataclass(slots=True)
class ProxyCounts:
    """What the proxy did since it started."""

    connections: int = 0  # accepted and relayed to the device
    refused: int = 0  # closed at once: flapping down, or the device unreachable
    requests: int = 0  # relayed to the device
    passed: int = 0  # answers relayed unchanged
    mangled: Counter[str] = field(default_factory=Counter)  # answers misbehaved on, by mode
    withheld: int = 0  # answers swallowed on a connection left mute by a short frame
    dropped: int = 0  # connections the proxy closed mid-conversation

    @property
    def answers(self) -> int:
        return self.passed + self.mangled.total() + self.withheld


class _Hangup(Exception):
    """Ends one relayed connection."""


@dataclass(slots=True)
class _Link:
    client: asyncio.StreamWriter
    device: asyncio.StreamWriter
    mute: bool = False


def _other_tid(tid: int) -> int:
    # Never 0: pymodbus takes a 0 for "any" and would accept the answer; `tid=0` asks for that.
    return (tid + 0x0101) & 0xFFFF or 1


def _mangle(mode: Mode, frame: bytes, behaviour: Behaviour, rng: random.Random) -> bytes:
    """The bytes sent instead of the answer `frame` (the frame itself when nothing applies)."""
    tid, _, length, unit = _HEADER.unpack_from(frame)
    pdu = frame[_HEADER.size:]
    function = pdu[0]
    is_read = function in _READS and len(pdu) >= 2
    if mode == "wrong_tid":
        other = _other_tid(tid) if behaviour.tid is None else behaviour.tid
        return _HEADER.pack(other, 0, length, unit) + pdu
    if mode == "wrong_function":
        code = function & 0x7F
        changed = (function & 0x80) | _OTHER_READ.get(code, code ^ 0x01)
        return frame[: _HEADER.size] + bytes([changed]) + pdu[1:]
    if mode == "short" and behaviour.cut == "frame":
        return frame[: _HEADER.size + max(1, len(pdu) // 2)]  # the header still says `length`
    if mode == "short":
        shorter = pdu[: max(1, len(pdu) - (2 if function in (3, 4) else 1))]
        return _HEADER.pack(tid, 0, len(shorter) + 1, unit) + shorter
    if mode == "exception":
        return _HEADER.pack(tid, 0, 3, unit) + bytes([function | 0x80, behaviour.code])
    if mode == "wrong_byte_count" and is_read:
        return frame[: _HEADER.size + 1] + bytes([(pdu[1] + behaviour.offset) % 256]) + pdu[2:]
    if mode == "garbage" and behaviour.scope == "frame":
        return rng.randbytes(rng.randint(1, 2 * len(frame)))
    if mode == "garbage":
        # Random bytes that happen to form a proper answer cannot be told from one (Modbus TCP
        # has no checksum), so the first byte is never the asked function or its exception.
        asked = function & 0x7F
        first = rng.choice([code for code in range(256) if code not in (asked, asked | 0x80)])
        body = bytes([first]) + rng.randbytes(rng.randint(0, min(len(pdu) + 4, _MAX_PDU) - 1))
        return _HEADER.pack(tid, 0, len(body) + 1, unit) + body
    return frame


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(_HEADER.size)
    length = _HEADER.unpack(header)[2]
    if not 2 <= length <= _MAX_PDU + 1:
        raise _Hangup(f"frame length {length}")  # no way to find the next frame: give up
    return header + await reader.readexactly(length - 1)


class HostileProxy:
    """Relays Modbus TCP to one device and misbehaves as `behave` says; an `async with` resource.

    Args:
        upstream_port: the real device's port.
        upstream_host: the real device's address.
        host: the address to listen on.
        port: the port to listen on; 0 picks a free one (see `port` once started).
        seed: seed of every random choice (probability, garbage, mix), so runs repeat.
        clock: time for `late` and `flap`.
        name: names the proxy in the log and in task names.
    """

    def __init__(
        self,
        *,
        upstream_port: int,
        upstream_host: str = "127.0.0.1",
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        clock: Clock | None = None,
        name: str = "hostile",
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self._port = port
        self.name = name
        self.clock: Clock = clock or SystemClock()
        self.behaviour = Behaviour()
        self.counts = ProxyCounts()
        self._rng = random.Random(seed)  # misbehaviour, not cryptography
        self._since = 0.0  # monotonic time of the last `behave`
        self._answers = 0  # answers seen since the last `behave`, for `every`
        self._down_until = 0.0  # a flap chosen by `mix` refuses connections until then
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._server is not None and self._server.sockets:
            port: int = self._server.sockets[0].getsockname()[1]
            return port
        return self._port

    def behave(self, mode: Mode | Behaviour, **options: object) -> Behaviour:
        """Switch to `mode` now, with the `Behaviour` options given; returns the behaviour."""
        behaviour = mode if isinstance(mode, Behaviour) else Behaviour(mode)
        try:
            behaviour = dataclasses.replace(behaviour, **options)  # type: ignore[arg-type]
        except TypeError as exc:
            raise SimulatorError(f"{self.name}: {exc}") from None
        behaviour.check()
        self.behaviour = behaviour
        self._since = self.clock.monotonic()
        self._answers = 0
        self._down_until = 0.0
        log.info("%s: %s", self.name, behaviour)
        return behaviour

    async def __aenter__(self) -> Self:
        try:
            self._server = await asyncio.start_server(self._accept, self.host, self._port)
        except OSError as exc:
            raise SimulatorError(f"{self.name}: cannot listen on {self.host}:{self._port}"
                                 ) from exc
        log.info("%s listening on %s:%d, relaying to %s:%d", self.name, self.host, self.port,
                 *self.upstream)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    def _is_down(self) -> bool:
        now = self.clock.monotonic()
        if now < self._down_until:
            return True
        behaviour = self.behaviour
        if behaviour.mode != "flap":
            return False
        return (now - self._since) % (behaviour.down + behaviour.up) < behaviour.down

    def _choose(self) -> Mode | None:
        """The misbehaviour for the next answer, or None to pass it on."""
        behaviour = self.behaviour
        if behaviour.mode in ("normal", "flap"):
            return None
        self._answers += 1
        if self._answers % behaviour.every:
            return None
        if behaviour.probability < 1.0 and self._rng.random() >= behaviour.probability:
            return None
        return self._rng.choice(MIXED) if behaviour.mode == "mix" else behaviour.mode

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Our own task rather than the one asyncio would make of a coroutine callback: Python
        # 3.11 reports such a task as failed when it is cancelled, as `__aexit__` does.
        task = asyncio.create_task(self._relay(reader, writer), name=f"{self.name}.connection")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s: relaying failed", self.name, exc_info=error)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._is_down():
                self.counts.refused += 1
                return
            try:
                device_reader, device_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                self.counts.refused += 1
                return
            self.counts.connections += 1
            link = _Link(writer, device_writer)
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._requests(reader, link), name=f"{self.name}.requests")
                    group.create_task(self._answers_from(device_reader, link),
                                      name=f"{self.name}.answers")
            except* (_Hangup, asyncio.IncompleteReadError, OSError):
                pass  # either side hung up, or the proxy hung up on purpose
            finally:
                device_writer.close()
        finally:
            writer.close()

    async def _requests(self, reader: asyncio.StreamReader, link: _Link) -> None:
        while True:
            frame = await _read_frame(reader)
            if self._is_down():
                self.counts.dropped += 1
                raise _Hangup("flapping down")
            self.counts.requests += 1
            link.device.write(frame)
            await link.device.drain()

    async def _answers_from(self, reader: asyncio.StreamReader, link: _Link) -> None:
        while True:
            frame = await _read_frame(reader)
            if link.mute:
                self.counts.withheld += 1
                continue
            mode = self._choose()
            if mode == "silent":
                # The device stays connected and never answers: a panel hung mid-boot.
                self.counts.mangled[mode] += 1
                continue
            if mode is None:
                self.counts.passed += 1
                await self._send(link, frame)
                continue
            self.counts.mangled[mode] += 1
            if mode == "late":
                await self.clock.sleep(self.behaviour.delay)
                await self._send(link, frame)
            elif mode == "drop_mid_frame":
                await self._send(link, frame[: max(1, len(frame) // 2)])
                self.counts.dropped += 1
                raise _Hangup("dropped mid-frame")
            elif mode == "flap":  # chosen by mix
                self._down_until = self.clock.monotonic() + self.behaviour.down
                self.counts.dropped += 1
                raise _Hangup("flapping down")
            else:
                await self._send(link, _mangle(mode, frame, self.behaviour, self._rng))
                # The rest of a cut frame never comes: the stream cannot be followed any more.
                link.mute = mode == "short" and self.behaviour.cut == "frame"

    @staticmethod
    async def _send(link: _Link, data: bytes) -> None:
        link.client.write(data)
        await link.client.drain()


def parse_hostile(text: str) -> tuple[str, Behaviour]:
    """`DEVICE=MODE[:ARG][,every=N][,p=P]`, as `fireroom simulate --hostile` takes it.

    ARG: late: seconds; wrong_tid: the transaction id; short: frame or pdu; wrong_byte_count:
    the offset; garbage: pdu or frame; flap: DOWN/UP seconds; mix: seconds a flap lasts;
    exception: the exception code.
    """
    device, _, rest = text.partition("=")
    spec, *extras = rest.split(",")
    mode, _, arg = spec.partition(":")
    try:
        options = _argument(mode, arg) if arg else {}
        for extra in extras:
            options.update(_extra(extra))
        behaviour = Behaviour(cast(Mode, mode))
        behaviour = dataclasses.replace(behaviour, **options)  # type: ignore[arg-type]
        behaviour.check()
    except (ValueError, SimulatorError) as exc:
        raise SimulatorError(f"{text!r}: {exc}") from None
    if not device:
        raise SimulatorError(f"{text!r}: expected DEVICE=MODE[:ARG]")
    return device, behaviour


def _extra(text: str) -> dict[str, object]:
    key, _, value = text.partition("=")
    if key == "every":
        return {"every": int(value)}
    if key == "p":
        return {"probability": float(value)}
    raise SimulatorError(f"unknown option {key!r} (every=N or p=P)")


def _argument(mode: str, arg: str) -> dict[str, object]:
    if mode == "late":
        return {"delay": float(arg)}
    if mode == "wrong_tid":
        return {"tid": int(arg)}
    if mode == "short":
        return {"cut": arg}
    if mode == "wrong_byte_count":
        return {"offset": int(arg)}
    if mode == "garbage":
        return {"scope": arg}
    if mode == "flap":
        down, _, up = arg.partition("/")
        return {"down": float(down), "up": float(up or down)}
    if mode == "mix":
        return {"down": float(arg)}
    if mode == "exception":
        return {"code": int(arg)}
    raise SimulatorError(f"{mode} takes no argument")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def run_hostile(
    site: Site, specs: Sequence[str], run: Callable[[Site], Awaitable[int]], *, seed: int = 0
) -> int:
    """Run `run` on a copy of `site` whose `specs` devices sit behind hostile proxies.

    Each proxy listens on its device's configured address; the device's simulator is moved to
    a free loopback port, so the gateway's config needs no change.
    """
    problems: list[ConfigProblem] = []
    chosen: dict[str, Behaviour] = {}
    for text in specs:
        try:
            device, behaviour = parse_hostile(text)
            transport = site.device(device).transport
        except SimulatorError as exc:
            problems.append(ConfigProblem("", str(exc)))  # it names the spec
            continue
        except KeyError as exc:
            problems.append(ConfigProblem(text, str(exc.args[0])))
            continue
        if not isinstance(transport, TcpTransport):
            problems.append(ConfigProblem(text, f"{device} is not a Modbus TCP device"))
            continue
        chosen[device] = behaviour
    if problems:
        raise ConfigError("--hostile", problems)
    config = site.config.model_copy(deep=True)
    proxies = []
    for index, config_device in enumerate(config.devices):
        transport = config_device.transport
        if config_device.id not in chosen or not isinstance(transport, TcpTransport):
            continue
        proxy = HostileProxy(upstream_port=_free_port("127.0.0.1"), host=transport.host,
                             port=transport.port, seed=seed + index,
                             name=f"hostile[{config_device.id}]")
        proxy.behave(chosen[config_device.id])
        transport.host, transport.port = proxy.upstream
        proxies.append(proxy)
    async with contextlib.AsyncExitStack() as stack:
        for proxy in proxies:
            await stack.enter_async_context(proxy)
        return await run(dataclasses.replace(site, config=config))
