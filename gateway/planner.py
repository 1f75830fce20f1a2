"""Read planning: a device's points grouped into as few Modbus requests as the limits allow.

Points are sorted by address and merged while their ranges touch or overlap (the bits of one
status word share a register), and across gaps of at most `max_gap` unread registers (bits):
one request of 40 registers costs far less than three of 10. A gap never spans a range the
profile marks illegal, and a merged request that still meets an "illegal address" answer is
split back into its parts by the poller (`ReadRequest.split`). A multi-register point is never
split: a u32 read in two halves could mix two samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import ne
from typing import Protocol

from fireroom.config import DeviceConfig, Site
from fireroom.domain import Quality, Reading
from fireroom.points import PointSpec, Table
from gateway.decode import PointDecoder

__all__ = ["FUNCTION_CODES", "AddressRange", "ReadRequest", "plan", "plan_device"]

FUNCTION_CODES = {Table.COIL: 1, Table.DISCRETE: 2, Table.HOLDING: 3, Table.INPUT: 4}
_TABLE_ORDER = (Table.HOLDING, Table.INPUT, Table.COIL, Table.DISCRETE)


class AddressRange(Protocol):
    """Addresses `first..last` (inclusive) of one table, e.g. a profile's illegal range."""

    @property
    def table(self) -> Table: ...

    @property
    def first(self) -> int: ...

    @property
    def last(self) -> int: ...


@dataclass(slots=True)
class ReadRequest:
    """One Modbus read and the decoders that take their slice of its answer."""

    table: Table
    address: int
    count: int
    # (decoder, start, stop) with start/stop relative to `address`, computed once at plan time.
    slices: list[tuple[PointDecoder, int, int]] = field(default_factory=list)
    # The last answer and its readings; for each word, the indexes of the slices that read it.
    _words: list[int] | None = field(default=None, init=False, repr=False, compare=False)
    _readings: list[Reading] = field(default_factory=list, init=False, repr=False,
                                     compare=False)
    _readers: list[tuple[int, ...]] = field(default_factory=list, init=False, repr=False,
                                            compare=False)
    _unusable: dict[Quality, list[Reading]] = field(default_factory=dict, init=False,
                                                    repr=False, compare=False)

    @property
    def function_code(self) -> int:
        return FUNCTION_CODES[self.table]

    @property
    def is_bits(self) -> bool:
        return self.table in (Table.COIL, Table.DISCRETE)

    @property
    def merged(self) -> bool:
        """Whether this request reads registers no point asked for (it spans a gap)."""
        covered = 0
        end = self.address
        for _, start, stop in sorted(self.slices, key=lambda s: s[1]):
            covered += max(0, stop - max(start, end - self.address))
            end = max(end, self.address + stop)
        return covered < self.count

    def split(self) -> list[ReadRequest]:
        """The gap-free requests this one merged, for a device that refuses the whole span."""
        parts: list[ReadRequest] = []
        for decoder, start, stop in sorted(self.slices, key=lambda s: s[1]):
            address = self.address + start
            last = parts[-1] if parts else None
            if last is not None and address <= last.address + last.count:
                last.count = max(last.count, address + (stop - start) - last.address)
            else:
                last = ReadRequest(self.table, address, stop - start)
                parts.append(last)
            offset = address - last.address
            last.slices.append((decoder, offset, offset + stop - start))
        return parts

    @property
    def points(self) -> list[str]:
        return [decoder.name for decoder, _, _ in self.slices]

    def decode(self, words: Sequence[int]) -> list[Reading]:
        """Decode every point of this request from its answer (`count` words or bits).

        Fire equipment rarely changes, so most answers equal the previous one: those give the
        previous list back, and a changed answer decodes again only the points whose words
        changed, keeping the other readings. Decoding depends on nothing but the words, so the
        readings are the ones a full decode would give; the same objects, which later stages
        may use to skip what did not change. The list is shared: never modify it.
        """
        last = self._words
        if words == last:
            return self._readings
        slices = self.slices
        changed: list[int] = []
        if last is not None and len(last) == len(words) == len(self._readers):
            changed = list(compress(range(len(words)), map(ne, words, last)))
        if not changed or 2 * len(changed) > len(words) or len(self._readings) != len(slices):
            # A first answer, or one that changed too much for picking out to pay.
            readings = [decoder.decode(words[start:stop]) for decoder, start, stop in slices]
            if len(self._readers) != len(words):
                self._readers = self._word_readers(len(words))
        else:
            readings = self._readings.copy()
            readers = self._readers
            for index in {index for word in changed for index in readers[word]}:
                decoder, start, stop = slices[index]
                readings[index] = decoder.decode(words[start:stop])
        self._words = list(words)
        self._readings = readings
        return readings

    def _word_readers(self, count: int) -> list[tuple[int, ...]]:
        readers: list[list[int]] = [[] for _ in range(count)]
        for index, (_, start, stop) in enumerate(self.slices):
            for word in range(start, min(stop, count)):
                readers[word].append(index)
        return [tuple(indexes) for indexes in readers]

    def unusable(self, quality: Quality) -> list[Reading]:
        """Readings without a value for every point, e.g. `bad` after an exception response.

        The same list (of the same readings) for the same quality: never modify it.
        """
        readings = self._unusable.get(quality)
        if readings is None or len(readings) != len(self.slices):
            readings = [Reading(decoder.name, None, quality) for decoder, _, _ in self.slices]
            self._unusable[quality] = readings
        return readings

    def __str__(self) -> str:
        return f"FC{self.function_code} {self.table.value}[{self.address}:+{self.count}]"


def plan(
    points: Iterable[PointSpec],
    *,
    max_registers: int = 125,
    max_bits: int = 2000,
    max_gap: int = 0,
    max_bit_gap: int = 0,
    illegal: Iterable[AddressRange] = (),
) -> list[ReadRequest]:
    """Group points into read requests: holding, input, coil, discrete; each by address.

    Raises:
        ValueError: a point lies in an illegal range, or needs more registers than allowed.
    """
    by_table: dict[Table, list[PointSpec]] = {}
    for point in points:
        by_table.setdefault(point.table, []).append(point)
    forbidden: dict[Table, list[tuple[int, int]]] = {}
    for area in illegal:
        forbidden.setdefault(area.table, []).append((area.first, area.last))
    requests: list[ReadRequest] = []
    for table in _TABLE_ORDER:
        specs = sorted(by_table.get(table, ()), key=lambda p: (p.address, p.count))
        bits = table in (Table.COIL, Table.DISCRETE)
        limit = max_bits if bits else max_registers
        gap = max_bit_gap if bits else max_gap
        requests.extend(_plan_table(table, specs, limit, gap, forbidden.get(table, [])))
    return requests


def plan_device(site: Site, device: DeviceConfig) -> list[ReadRequest]:
    """A device's reads, with its limits and gaps and its profile's illegal ranges."""
    return plan(
        site.points.get(device.id, []),
        max_registers=device.max_registers,
        max_bits=device.max_bits,
        max_gap=device.max_gap,
        max_bit_gap=device.max_bit_gap,
        illegal=site.profile_of(device.id).illegal,
    )


def _overlaps(first: int, last: int, ranges: list[tuple[int, int]]) -> bool:
    return any(first <= high and low <= last for low, high in ranges)


def _plan_table(
    table: Table, specs: list[PointSpec], limit: int, gap: int, illegal: list[tuple[int, int]]
) -> list[ReadRequest]:
    requests: list[ReadRequest] = []
    current: ReadRequest | None = None
    for spec in specs:
        if spec.count > limit:
            raise ValueError(
                f"point {spec.name!r} needs {spec.count} registers, more than the limit {limit}"
            )
        end = spec.address + spec.count
        if _overlaps(spec.address, end - 1, illegal):
            raise ValueError(
                f"point {spec.name!r} at {table.value} {spec.address} lies in a range the"
                " profile marks illegal"
            )
        if current is not None:
            current_end = current.address + current.count
            fits = max(current_end, end) - current.address <= limit
            near = spec.address <= current_end + gap
            # The registers between the two are read too: never ones the device refuses.
            clean = spec.address <= current_end or not _overlaps(
                current_end, spec.address - 1, illegal
            )
            if near and fits and clean:
                current.count = max(current_end, end) - current.address
            else:
                current = None
        if current is None:
            current = ReadRequest(table, spec.address, spec.count)
            requests.append(current)
        offset = spec.address - current.address
        current.slices.append((PointDecoder(spec), offset, offset + spec.count))
    return requests
