"""Read planning: a device's points grouped into as few Modbus requests as the limits allow.

Points are sorted by address and merged while their ranges touch or overlap (the bits of one
status word share a register); a gap always starts a new request, because unmapped addresses
between points may answer with an illegal-address exception and spoil the whole block. A
multi-register point is never split: a u32 read in two halves could mix two samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fireroom.domain import Quality, Reading
from fireroom.points import PointSpec, Table
from gateway.decode import PointDecoder

__all__ = ["FUNCTION_CODES", "ReadRequest", "plan"]

FUNCTION_CODES = {Table.COIL: 1, Table.DISCRETE: 2, Table.HOLDING: 3, Table.INPUT: 4}
_TABLE_ORDER = (Table.HOLDING, Table.INPUT, Table.COIL, Table.DISCRETE)


@dataclass(slots=True)
class ReadRequest:
    """One Modbus read and the decoders that take their slice of its answer."""

    table: Table
    address: int
    count: int
    # (decoder, start, stop) with start/stop relative to `address`, computed once at plan time.
    slices: list[tuple[PointDecoder, int, int]] = field(default_factory=list)

    @property
    def function_code(self) -> int:
        return FUNCTION_CODES[self.table]

    @property
    def is_bits(self) -> bool:
        return self.table in (Table.COIL, Table.DISCRETE)

    @property
    def points(self) -> list[str]:
        return [decoder.name for decoder, _, _ in self.slices]

    def decode(self, words: Sequence[int]) -> list[Reading]:
        """Decode every point of this request from its answer (`count` words or bits)."""
        return [decoder.decode(words[start:stop]) for decoder, start, stop in self.slices]

    def unusable(self, quality: Quality) -> list[Reading]:
        """Readings without a value for every point, e.g. `bad` after an exception response."""
        return [Reading(decoder.name, None, quality) for decoder, _, _ in self.slices]

    def __str__(self) -> str:
        return f"FC{self.function_code} {self.table.value}[{self.address}:+{self.count}]"


def plan(
    points: Iterable[PointSpec], *, max_registers: int = 125, max_bits: int = 2000
) -> list[ReadRequest]:
    """Group points into read requests: holding, input, coil, discrete; each by address."""
    by_table: dict[Table, list[PointSpec]] = {}
    for point in points:
        by_table.setdefault(point.table, []).append(point)
    requests: list[ReadRequest] = []
    for table in _TABLE_ORDER:
        specs = sorted(by_table.get(table, ()), key=lambda p: (p.address, p.count))
        limit = max_bits if table in (Table.COIL, Table.DISCRETE) else max_registers
        requests.extend(_plan_table(table, specs, limit))
    return requests


def _plan_table(table: Table, specs: list[PointSpec], limit: int) -> list[ReadRequest]:
    requests: list[ReadRequest] = []
    current: ReadRequest | None = None
    for spec in specs:
        if spec.count > limit:
            raise ValueError(
                f"point {spec.name!r} needs {spec.count} registers, more than the limit {limit}"
            )
        end = spec.address + spec.count
        if current is not None:
            current_end = current.address + current.count
            fits = max(current_end, end) - current.address <= limit
            if spec.address <= current_end and fits:
                current.count = max(current_end, end) - current.address
            else:
                current = None
        if current is None:
            current = ReadRequest(table, spec.address, spec.count)
            requests.append(current)
        offset = spec.address - current.address
        current.slices.append((PointDecoder(spec), offset, offset + spec.count))
    return requests
