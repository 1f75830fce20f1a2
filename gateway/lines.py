"""Modbus RTU lines: a serial port, or a serial server reached over TCP, shared by unit ids.

RTU is one master asking one unit at a time on one wire, so every device on a line reads
through the line's lock, and the line keeps `frame_gap()` of silence between the end of one
exchange and the next request.

A unit that does not answer is that unit's problem: the line stays open for the others. Its
answer may still come, late, and RTU frames carry no transaction id to tell it from the next
unit's. So after a timeout the line stays quiet for as long as the longest frame takes on the
wire, letting the late answer arrive and be thrown away (pymodbus clears its receive buffer with
every request it sends). A frame that turns up later still is dropped by pymodbus when it comes
from another unit id than the one asked, and rejected by the response check when its function or
count differ; only the same unit answering the same read later still could slip through, and
the poller does not ask that unit again before its reconnect backoff has passed.

A lost port or connection fails the request of whichever device is asking, at once rather than
at its timeout; the line reopens on the next request. Wire timing (the gap, timeouts) runs on
the monotonic clock, like `asyncio.timeout`: it is about the physical line, not the gateway's
clock, which tests may simulate.
"""

from __future__ import annotations

import asyncio
import termios
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient, ModbusBaseClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerRTU, FramerType

from fireroom.config import DeviceConfig, RtuOverTcpLine, SerialLine
from fireroom.errors import DeviceError, DeviceException, DeviceGarbage, DeviceTimeout
from gateway.drivers import modbus
from gateway.planner import ReadRequest
from gateway.stats import ErrorKind, percentile

__all__ = ["LineReport", "LineStats", "RtuLine", "answer_timeout"]

AnyLine = SerialLine | RtuOverTcpLine

_PYMODBUS_GRACE = 1.0  # pymodbus' own timeout is longer, so ours always fires first
_LONGEST_FRAME = 256  # characters in the longest RTU frame
# Behind a serial server the wire's speed is unknown: assume the usual default, 9600 Bd 8N1.
_SERVER_CHARACTER = 10 / 9600


def answer_timeout(device: DeviceConfig, line: AnyLine) -> float:
    """The device's own timeout when its config sets one, else its line's."""
    return device.timeout if "timeout" in device.model_fields_set else line.timeout


def character_time(line: AnyLine) -> float:
    """Seconds one character takes on the line's wire."""
    if isinstance(line, SerialLine):
        bits = 1 + line.bytesize + (line.parity != "N") + line.stopbits
        return bits / line.baudrate
    return _SERVER_CHARACTER


def _no_errors() -> dict[ErrorKind, int]:
    # A line has no "busy": that answer is counted against the device that gave it.
    return {"timeout": 0, "exception": 0, "garbage": 0, "connection": 0}


def _kind(error: DeviceError) -> ErrorKind:
    if isinstance(error, DeviceTimeout):
        return "timeout"
    if isinstance(error, DeviceException):
        return "exception"
    if isinstance(error, DeviceGarbage):
        return "garbage"
    return "connection"


class LineReport(TypedDict):
    """One line in `Connections.stats()`; times in seconds."""

    type: str  # serial or rtu-over-tcp
    connected: bool
    devices: int
    requests: int  # frames sent
    errors: dict[ErrorKind, int]
    rtt_p50: float | None
    rtt_p99: float | None
    busy_seconds: float  # time the line was held: gaps, exchanges, waits after a timeout
    busy_ratio: float | None  # busy_seconds over the time since the first request
    reconnects: int  # times the line was opened again after its first opening


@dataclass(slots=True)
class LineStats:
    """Counters of one line; round-trip times keep the last `rtt_window` answers."""

    rtt_window: int = 512
    requests: int = 0
    errors: dict[ErrorKind, int] = field(default_factory=_no_errors)
    reconnects: int = 0
    busy: float = 0.0
    started: float | None = None  # monotonic time of the first request
    rtts: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self.rtts = deque(maxlen=self.rtt_window)

    def rtt_percentile(self, fraction: float) -> float | None:
        """Nearest-rank percentile of the recent round-trip times, in seconds."""
        return percentile(self.rtts, fraction)

    def busy_ratio(self, now: float) -> float | None:
        if self.started is None or now <= self.started:
            return None
        return min(1.0, self.busy / (now - self.started))


@dataclass(slots=True)
class _Asking:
    """The request on the wire, as the trace hooks see it."""

    unit: int
    function_code: int
    deadline: asyncio.Timeout
    garbled: bool = False
    lost: bool = False


def _crc_failed(data: bytes, unit: int, function_code: int) -> bool:
    """Whether `data` starts with a whole answer of `unit` to `function_code` with a bad CRC."""
    if len(data) < 5 or data[0] != unit:
        return False
    if data[1] == function_code | 0x80:
        size = 5
    elif data[1] == function_code:
        size = 5 + data[2]
    else:
        return False  # not the start of our answer: pymodbus hunts for one
    if len(data) < size:
        return False
    crc = int.from_bytes(data[size - 2 : size], "big")
    return FramerRTU.compute_CRC(data[: size - 2]) != crc


class RtuLine:
    """One RTU line and its one connection, shared by the devices on it.

    Devices `attach` to the line when they read and `release` it when their driver closes;
    the port or connection is closed when no device holds the line any more.

    Args:
        line: the line's config.
        devices: the devices on the line; their timeouts bound pymodbus' own.
    """

    def __init__(self, line: AnyLine, devices: Sequence[DeviceConfig] = ()) -> None:
        self.line = line
        self.devices = [device.id for device in devices]
        self.gap = line.frame_gap()
        # After a timeout: time for a late answer that had begun to finish arriving.
        self.settle = self.gap + _LONGEST_FRAME * character_time(line)
        longest = max([line.timeout, *(answer_timeout(device, line) for device in devices)])
        self.client = self._client(longest + _PYMODBUS_GRACE)
        self.stats = LineStats()
        self._lock = asyncio.Lock()
        self._free_at = 0.0  # monotonic time from which the next request may go out
        self._asking: _Asking | None = None
        self._users: set[object] = set()
        self._opened = 0

    def _client(self, timeout: float) -> ModbusBaseClient:
        # Retries and reconnects belong to the poller; our asyncio.timeout decides when a unit
        # is too slow, so pymodbus never counts unanswered requests towards dropping the line.
        line = self.line
        if isinstance(line, SerialLine):
            return AsyncModbusSerialClient(
                line.port, framer=FramerType.RTU, baudrate=line.baudrate,
                bytesize=line.bytesize, parity=line.parity, stopbits=line.stopbits,
                name=line.id, timeout=timeout, retries=0, reconnect_delay=0,
                trace_packet=self._on_packet, trace_connect=self._on_connect,
            )
        return AsyncModbusTcpClient(
            line.host, port=line.port, framer=FramerType.RTU, name=line.id, timeout=timeout,
            retries=0, reconnect_delay=0,
            trace_packet=self._on_packet, trace_connect=self._on_connect,
        )

    @property
    def id(self) -> str:
        return self.line.id

    @property
    def connected(self) -> bool:
        return bool(self.client.connected)

    def attach(self, user: object) -> None:
        """Count `user` (a driver) among the devices that need the line open."""
        self._users.add(user)

    def release(self, user: object) -> None:
        """`user` needs the line no more; the last one to let go closes it."""
        self._users.discard(user)
        if not self._users:
            self.client.close()

    def close(self) -> None:
        """Close the port or connection whoever still holds it (at shutdown)."""
        self._users.clear()
        self.client.close()

    async def open(self, within: float, where: str) -> None:
        """Open the port or connection unless it is open; raises `DeviceError`."""
        async with self._lock:
            try:
                await self._open(within, where)
            except DeviceError as exc:
                self.stats.errors[_kind(exc)] += 1
                raise

    async def read(
        self, unit: int, request: ReadRequest, *, within: float, where: str
    ) -> Sequence[int]:
        """One read of one unit, in its turn on the line; raises a `DeviceError`.

        `within` is the unit's answer timeout; waiting for the line's turn is not part of it.
        """
        async with self._lock:
            held = time.monotonic()
            if self.stats.started is None:
                self.stats.started = held
            try:
                await self._open(within, where)
                if (wait := self._free_at - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                self.stats.requests += 1
                sent = time.monotonic()
                response = await self._exchange(unit, request, within, where)
                self.stats.rtts.append(time.monotonic() - sent)
                return modbus.values(request, response, where)
            except DeviceError as exc:
                self.stats.errors[_kind(exc)] += 1
                raise
            finally:
                self._free_at = time.monotonic() + self.gap
                self.stats.busy += time.monotonic() - held

    def report(self) -> LineReport:
        now = time.monotonic()
        return {
            "type": self.line.type,
            "connected": self.connected,
            "devices": len(self.devices),
            "requests": self.stats.requests,
            "errors": dict(self.stats.errors),
            "rtt_p50": self.stats.rtt_percentile(0.5),
            "rtt_p99": self.stats.rtt_percentile(0.99),
            "busy_seconds": self.stats.busy,
            "busy_ratio": self.stats.busy_ratio(now),
            "reconnects": self.stats.reconnects,
        }

    async def _open(self, within: float, where: str) -> None:
        if self.connected:
            return
        what = self.line.describe()
        try:
            async with asyncio.timeout(within):
                ok = await self.client.connect()
        except TimeoutError as exc:
            self.client.close()
            raise DeviceTimeout(f"{where}: opening {what} timed out") from exc
        except (ModbusException, OSError, ValueError, termios.error) as exc:
            # termios refuses settings the port cannot take (parity on a pty, odd speeds).
            self.client.close()
            raise DeviceError(f"{where}: cannot open {what}: {exc}") from exc
        if not ok:
            raise DeviceError(f"{where}: cannot open {what}")
        self._opened += 1
        if self._opened > 1:
            self.stats.reconnects += 1

    async def _exchange(
        self, unit: int, request: ReadRequest, within: float, where: str
    ) -> object:
        asking: _Asking | None = None
        try:
            async with asyncio.timeout(within) as deadline:
                asking = self._asking = _Asking(unit, request.function_code, deadline)
                return await modbus.send(self.client, request, unit)
        except TimeoutError as exc:
            self._asking = None
            if asking is not None and asking.garbled:
                raise DeviceGarbage(f"{where}: answer failed its CRC check") from exc
            if (asking is not None and asking.lost) or not self.connected:
                self.client.close()
                raise DeviceError(f"{where}: {self.line.type} line lost") from exc
            await asyncio.sleep(self.settle)
            raise DeviceTimeout(f"{where}: timeout after {within:g} s") from exc
        except ConnectionException as exc:
            self.client.close()
            raise DeviceError(f"{where}: {self.line.type} line lost: {exc}") from exc
        except ModbusException as exc:
            # ModbusIOException: an answer pymodbus could not take for this request.
            raise DeviceGarbage(f"{where}: malformed answer: {exc}") from exc
        except OSError as exc:
            self.client.close()
            raise DeviceError(f"{where}: {self.line.type} line lost: {exc}") from exc
        finally:
            self._asking = None

    def _on_packet(self, sending: bool, data: bytes) -> bytes:
        # pymodbus drops a frame whose CRC fails and waits on; end the wait now, as garbage.
        asking = self._asking
        if (
            not sending
            and asking is not None
            and not asking.garbled
            and _crc_failed(data, asking.unit, asking.function_code)
        ):
            asking.garbled = True
            asking.deadline.reschedule(asyncio.get_running_loop().time())
        return data

    def _on_connect(self, connected: bool) -> None:
        # pymodbus leaves the request waiting when the port or connection goes; end it now.
        asking = self._asking
        if not connected and asking is not None:
            asking.lost = True
            asking.deadline.reschedule(asyncio.get_running_loop().time())
