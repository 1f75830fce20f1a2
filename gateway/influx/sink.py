"""The gateway's InfluxDB sink: every reading of every scan as a `reading` line.

The schema is `fireroom.lineprotocol`'s. Series keys are built once per point; enumerations and
flag words get their raw code in `value`, recomputed from the label or the set flags with the
point's map, so the decoder and the MQTT payload stay as they are.
"""

from __future__ import annotations

from fireroom.config import Site
from fireroom.domain import PointValue, Quality, Reading
from fireroom.lineprotocol import reading_fields, series_key
from fireroom.points import PointSpec
from gateway.influx.writer import BufferedWriter
from gateway.metrics import Metric
from gateway.poller import DeviceStatus, Scan

__all__ = ["InfluxSink", "point_kind"]


def point_kind(spec: PointSpec | None) -> str:
    """The `kind` tag: the point's role, else its descriptive kind, else `value`."""
    if spec is None:
        return "value"
    if spec.role is not None:
        return spec.role.value
    return spec.kind or "value"


class _Point:
    """One point's series key, code maps, and the field set of its last reading.

    Fire equipment mostly holds still (a detector reads `normal` all day), so the field set
    is formatted again only when the value, quality or raw signal changed.
    """

    __slots__ = ("fields", "flags", "key", "labels", "quality", "raw", "value")

    def __init__(self, site: str, device: str, point: str, spec: PointSpec | None) -> None:
        self.key = series_key(site, device, point, point_kind(spec))
        self.flags: dict[str, int] | None = None  # flag name -> bit mask
        self.labels: dict[str, int] | None = None  # enum label -> code
        if spec is not None and spec.flags:
            self.flags = {}
            for bit, name in spec.flags.items():
                self.flags[name] = self.flags.get(name, 0) | (1 << bit)
        if spec is not None and spec.enum:
            self.labels = {label: code for code, label in spec.enum.items()}
        self.fields: str | None = None
        self.value: PointValue = None
        self.quality: Quality | None = None
        self.raw: float | None = None

    def fields_of(self, reading: Reading) -> str:
        value = reading.value
        if (self.fields is not None and reading.quality is self.quality
                and reading.raw == self.raw and value == self.value):
            return self.fields
        code: int | None = None
        if self.flags is not None and isinstance(value, list):
            code = 0
            for name in value:
                code |= self.flags.get(name, 0)
        elif self.labels is not None and isinstance(value, str):
            code = self.labels.get(value)
        self.fields = reading_fields(reading, code)
        self.value = list(value) if isinstance(value, list) else value
        self.quality = reading.quality
        self.raw = reading.raw
        return self.fields


class InfluxSink:
    """A `ScanSink` that writes readings to InfluxDB through a buffered writer.

    Args:
        site: the validated site; its points give each series its tags and codes.
        writer: where the lines go; `run()` runs it.
    """

    def __init__(self, site: Site, writer: BufferedWriter) -> None:
        self.site = site
        self.writer = writer
        self._devices: dict[str, dict[str, _Point]] = {}
        for device, specs in site.points.items():
            self._devices[device] = {
                spec.name: _Point(site.id, device, spec.name, spec) for spec in specs
            }

    def scan(self, scan: Scan) -> None:
        points = self._devices.setdefault(scan.device, {})
        # Microseconds: what the clock resolves, and identical after a resend (deduplicated).
        ts = f" {round(scan.ts * 1_000_000) * 1000}"
        lines: list[str] = []
        append = lines.append
        for reading in scan.readings:
            point = points.get(reading.point)
            if point is None:
                point = points[reading.point] = _Point(
                    self.site.id, scan.device, reading.point, None
                )
            append(point.key + " " + point.fields_of(reading) + ts)
        self.writer.put(lines)

    def status(self, device: str, status: DeviceStatus) -> None:
        """Nothing to write: a lost device already shows as `comm_lost` readings."""

    async def run(self) -> None:
        await self.writer.run()

    def metrics(self) -> list[Metric]:
        return self.writer.metrics()
