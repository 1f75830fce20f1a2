"""The telemetry payload: one JSON message per device scan.

    {"site": "tower-a", "device": "pump-1", "ts": 1764130000.125, "seq": 42,
     "readings": {"running": [true, "good"], "main_pressure": [0.62, "good", 10.2], ...}}

Each reading is `[value, quality]` or `[value, quality, raw]`; `ts` is the gateway's clock
(Unix seconds), increasing per device, and `seq` increases by one per scan of that device, so
consumers can order messages and notice gaps. A device that is lost is published with every
point `comm_lost` and value null, never with its last values.

A device that reports by exception adds `"full"`: false when the message holds only the
readings that changed (the others are as last sent), true for its periodic full snapshot.
Without the key every message is complete. `Reassembly` turns the first kind back into
complete messages for consumers that want every point each time.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from fireroom.domain import PointValue, Quality, Reading

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "Reassembly",
    "SeqGaps",
    "Telemetry",
    "TelemetryError",
    "decode",
    "encode",
]

MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
_QUALITIES = {quality.value: quality for quality in Quality}


class TelemetryError(ValueError):
    """A telemetry payload that cannot be used; the message says what was wrong."""


@dataclass(slots=True)
class Telemetry:
    site: str
    device: str
    ts: float
    seq: int
    readings: list[Reading]
    full: bool | None = None  # None: complete; True/False: report by exception (see above)


def encode(message: Telemetry) -> bytes:
    readings: dict[str, list[object]] = {}
    # orjson writes a str enum as its value: the quality goes in as it is, which halves the
    # cost per reading on a large site.
    for reading in message.readings:
        if reading.raw is None:
            readings[reading.point] = [reading.value, reading.quality]
        else:
            readings[reading.point] = [reading.value, reading.quality, reading.raw]
    document: dict[str, object] = {
        "site": message.site,
        "device": message.device,
        "ts": message.ts,
        "seq": message.seq,
        "readings": readings,
    }
    if message.full is not None:
        document["full"] = message.full
    return orjson.dumps(document)


def _value(point: str, value: object) -> PointValue:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise TelemetryError(f"reading {point!r}: value {value!r} is not a number, text or flags")


def decode(payload: bytes) -> Telemetry:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise TelemetryError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise TelemetryError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise TelemetryError("payload is not a JSON object")
    site, device, ts, seq = data.get("site"), data.get("device"), data.get("ts"), data.get("seq")
    if not isinstance(site, str) or not isinstance(device, str):
        raise TelemetryError("'site' and 'device' must be strings")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise TelemetryError(f"'ts' must be a number, got {ts!r}")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise TelemetryError(f"'seq' must be an integer, got {seq!r}")
    full = data.get("full")
    if full is not None and not isinstance(full, bool):
        raise TelemetryError(f"'full' must be true or false, got {full!r}")
    raw_readings = data.get("readings")
    if not isinstance(raw_readings, dict):
        raise TelemetryError("'readings' must be an object")
    readings = []
    for point, item in raw_readings.items():
        if not isinstance(item, list) or len(item) not in (2, 3):
            raise TelemetryError(f"reading {point!r} must be [value, quality] or with raw")
        quality = _QUALITIES.get(item[1]) if isinstance(item[1], str) else None
        if quality is None:
            raise TelemetryError(f"reading {point!r}: unknown quality {item[1]!r}")
        raw = item[2] if len(item) == 3 else None
        if raw is not None and (isinstance(raw, bool) or not isinstance(raw, (int, float))):
            raise TelemetryError(f"reading {point!r}: raw {raw!r} is not a number")
        readings.append(Reading(point, _value(point, item[0]), quality, raw))
    return Telemetry(site, device, float(ts), seq, readings, full)


class SeqGaps:
    """Notices lost messages: a device's `seq` that skips ahead of the last one plus one.

    A `seq` that goes back is a restarted gateway starting a new sequence, not a gap; a repeat
    (a QoS 1 redelivery) is none either.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}

    def check(self, message: Telemetry) -> tuple[int, int] | None:
        """(last seq, this seq) when messages were lost just before this one, else None."""
        key = (message.site, message.device)
        last = self._last.get(key)
        self._last[key] = message.seq
        if last is not None and message.seq > last + 1:
            return last, message.seq
        return None


class Reassembly:
    """Completes messages of devices that report by exception, for consumers of every point.

    A full message replaces what is known of its device; a partial one is laid over it. Until a
    device's first full message, a partial one completes to the points heard so far. After a
    gap (`gap()`), what was known may have changed unseen: partial messages are passed on with
    only their own readings until the next full one.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], dict[str, Reading]] = {}
        self._unknown: set[tuple[str, str]] = set()

    def gap(self, site: str, device: str) -> None:
        """Messages of `device` were lost: forget its state until a full message arrives."""
        key = (site, device)
        self._known.pop(key, None)
        self._unknown.add(key)

    def complete(self, message: Telemetry) -> Telemetry:
        if message.full is None:
            return message
        key = (message.site, message.device)
        if message.full:
            self._known[key] = {reading.point: reading for reading in message.readings}
            self._unknown.discard(key)
            return message
        if key in self._unknown:
            return message
        known = self._known.setdefault(key, {})
        for reading in message.readings:
            known[reading.point] = reading
        return Telemetry(
            message.site, message.device, message.ts, message.seq, list(known.values()), False
        )
