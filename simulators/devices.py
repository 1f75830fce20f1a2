"""Simulated devices: a register image per Modbus table, written and read by point name.

The image is laid out the way pymodbus lays out a non-shared `SimDevice` block, so the server can
copy it into the block on every request with one slice assignment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fireroom import codec
from fireroom.codec import DataType
from fireroom.config import DeviceConfig
from fireroom.domain import PointValue
from fireroom.points import PointSpec, Table, Transmitter
from fireroom.profiles import Profile
from simulators.errors import SimulatorError

__all__ = ["Block", "SimulatedDevice", "Value"]

# What a point can be set to: a number, a bit, an enumeration label or the names of set flags.
Value = float | int | bool | str | Iterable[str]

_BIT_TABLES = (Table.COIL, Table.DISCRETE)


@dataclass
class Block:
    """Contiguous words of one table; bit tables pack 16 bits a word, bit 0 first.

    `start` counts words: for bit tables it is the first bit address divided by 16.
    `runs` are the (address, count) ranges that points occupy, in table units.
    """

    table: Table
    start: int
    words: list[int]
    runs: list[tuple[int, int]]

    @property
    def bits(self) -> bool:
        return self.table in _BIT_TABLES

    def read(self, address: int, count: int) -> list[int]:
        if self.bits:
            return [self.get_bit(address + i) for i in range(count)]
        offset = address - self.start
        return self.words[offset : offset + count]

    def write(self, address: int, values: Sequence[int]) -> None:
        if self.bits:
            for i, value in enumerate(values):
                self.set_bit(address + i, value)
            return
        offset = address - self.start
        self.words[offset : offset + len(values)] = list(values)

    def get_bit(self, address: int) -> int:
        return (self.words[address // 16 - self.start] >> (address % 16)) & 1

    def set_bit(self, address: int, value: int | bool) -> None:
        index = address // 16 - self.start
        mask = 1 << (address % 16)
        self.words[index] = (self.words[index] | mask) if value else (self.words[index] & ~mask)


def _runs(addresses: set[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for address in sorted(addresses):
        if runs and runs[-1][0] + runs[-1][1] == address:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((address, 1))
    return runs


def _build_block(table: Table, points: Iterable[PointSpec]) -> Block | None:
    addresses = {p.address + i for p in points if p.table is table for i in range(p.count)}
    if not addresses:
        return None
    runs = _runs(addresses)
    if table in _BIT_TABLES:
        start = min(addresses) // 16
        end = max(addresses) // 16
    else:
        start = min(addresses)
        end = max(addresses)
    return Block(table, start, [0] * (end - start + 1), runs)


def _to_milliamps(value: float, transmitter: Transmitter) -> float:
    return 4.0 + 16.0 * (value - transmitter.low) / (transmitter.high - transmitter.low)


class SimulatedDevice:
    """One site device: its points and the register image a Modbus client reads.

    Behaviour models write through `update`, which leaves alone the points a scenario or a test
    holds with `set(..., hold=True)`: a wire break must stay broken while the pressure model runs.
    """

    def __init__(self, config: DeviceConfig, profile: Profile, points: Sequence[PointSpec]) -> None:
        self.config = config
        self.profile = profile
        self.points: dict[str, PointSpec] = {point.name: point for point in points}
        self.blocks: dict[Table, Block] = {}
        for table in Table:
            block = _build_block(table, points)
            if block is not None:
                self.blocks[table] = block
        self.held: set[str] = set()

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def kind(self) -> str:
        return self.profile.kind

    def spec(self, name: str) -> PointSpec:
        try:
            return self.points[name]
        except KeyError:
            raise SimulatorError(f"device {self.id!r} has no point {name!r}") from None

    def set(self, name: str, value: Value, *, hold: bool = False) -> None:
        """Set a point's value as the gateway decodes it (a transmitter's number is in mA)."""
        spec = self.spec(name)
        self.set_raw(name, self._raw(spec, value))
        if hold:
            self.held.add(name)

    def update(self, name: str, value: Value) -> None:
        """Set a point unless it is held; what behaviour models use."""
        if name not in self.held:
            self.set(name, value)

    def release(self, name: str) -> None:
        self.held.discard(name)

    def set_milliamps(self, name: str, milliamps: float, *, hold: bool = False) -> None:
        if self.spec(name).transmitter is None:
            raise SimulatorError(f"{self.id}/{name} is not a 4-20 mA transmitter")
        self.set(name, milliamps, hold=hold)

    def set_engineering(self, name: str, value: float, *, hold: bool = False) -> None:
        """Set a transmitter's reading in its unit (MPa, m) through its 4-20 mA range."""
        transmitter = self.spec(name).transmitter
        if transmitter is None:
            self.set(name, value, hold=hold)
            return
        self.set_milliamps(name, _to_milliamps(value, transmitter), hold=hold)

    def update_engineering(self, name: str, value: float) -> None:
        if name not in self.held:
            self.set_engineering(name, value)

    def set_raw(self, name: str, raw: float | bool) -> None:
        """Write a value before scale and offset into the point's registers or bit."""
        spec = self.spec(name)
        block = self.blocks[spec.table]
        words = codec.encode(raw, spec.type, spec.word_order)
        if spec.type is DataType.BIT:
            assert spec.bit is not None  # PointSpec guarantees it for type bit
            mask = 1 << spec.bit
            current = block.read(spec.address, 1)[0]
            block.write(spec.address, [(current | mask) if words[0] else (current & ~mask)])
        else:
            block.write(spec.address, words)

    def get_raw(self, name: str) -> float | bool:
        spec = self.spec(name)
        words = self.blocks[spec.table].read(spec.address, spec.count)
        return codec.decode(words, spec.type, spec.word_order, spec.bit)

    def get(self, name: str) -> PointValue:
        """The point's value as `set` takes it: number (mA for transmitters), bit, label, flags."""
        spec = self.spec(name)
        raw = self.get_raw(name)
        if isinstance(raw, bool):
            return raw
        if spec.flags is not None:
            return [flag for bit, flag in sorted(spec.flags.items()) if (int(raw) >> bit) & 1]
        if spec.enum is not None:
            return spec.enum.get(int(raw), str(int(raw)))
        return raw * spec.scale + spec.offset

    def get_engineering(self, name: str) -> float:
        spec = self.spec(name)
        value = self.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise SimulatorError(f"{self.id}/{name} is not a number")
        if spec.transmitter is None:
            return float(value)
        span = spec.transmitter.high - spec.transmitter.low
        return spec.transmitter.low + (float(value) - 4.0) / 16.0 * span

    def has_flag(self, name: str, flag: str) -> bool:
        value = self.get(name)
        return isinstance(value, list) and flag in value

    def set_flag(self, name: str, flag: str, on: bool) -> None:
        value = self.get(name)
        flags = set(value) if isinstance(value, list) else set()
        if (flag in flags) == on:
            return
        flags = flags | {flag} if on else flags - {flag}
        self.update(name, sorted(flags))

    def _raw(self, spec: PointSpec, value: Value) -> float | bool:
        where = f"{self.id}/{spec.name}"
        if spec.type in (DataType.BIT, DataType.COIL, DataType.DISCRETE):
            if not isinstance(value, bool):
                raise SimulatorError(f"{where} is a bit: {value!r} is not true or false")
            return value
        if isinstance(value, bool):
            raise SimulatorError(f"{where} is not a bit: cannot set it to {value!r}")
        if isinstance(value, str):
            return self._label(spec, value, where)
        if isinstance(value, (int, float)):
            if spec.scale == 0:
                raise SimulatorError(f"{where} has scale 0")
            raw = (value - spec.offset) / spec.scale
            return raw if spec.type is DataType.F32 else round(raw)
        return self._flags(spec, value, where)

    @staticmethod
    def _label(spec: PointSpec, label: str, where: str) -> int:
        if spec.enum is None:
            if spec.flags is not None:
                return SimulatedDevice._flags(spec, [label], where)
            raise SimulatorError(f"{where} has no enumeration: {label!r} is not a value")
        for number, name in spec.enum.items():
            if name == label:
                return number
        raise SimulatorError(f"{where}: {label!r} is not one of {sorted(spec.enum.values())}")

    @staticmethod
    def _flags(spec: PointSpec, names: Iterable[str], where: str) -> int:
        if spec.flags is None:
            raise SimulatorError(f"{where} has no flags: cannot set {names!r}")
        bits = {name: bit for bit, name in spec.flags.items()}
        raw = 0
        for name in names:
            if name not in bits:
                raise SimulatorError(f"{where}: flag {name!r} is not one of {sorted(bits)}")
            raw |= 1 << bits[name]
        return raw
