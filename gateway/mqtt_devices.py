"""MQTT-native devices: devices that publish their own JSON, heard instead of polled.

Every message on a device's topic filter becomes a scan of the points it holds, decoded as a
polled device's registers are (`PointDecoder.from_raw`), so a GB/T 26875.3 status word means
the same whether it came over Modbus or MQTT. Scans go to the same sink as the pollers'.

A device is online from its first usable message and lost after `SILENT_INTERVALS` of its
expected reporting interval (`poll_interval`) without one; while lost, every point is
published `comm_lost` once an interval, exactly as for a polled device that does not answer.
A value the config cannot vouch for (a string where a number belongs, a fractional status
word) makes its point `bad` and is counted as garbage: it is never published as good.

One client per broker: the site's, and one per distinct `broker:` override. A lost broker is
reconnected with backoff and the filters subscribed again; meanwhile the silence timers run on,
since a device the gateway cannot hear is a lost device.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

import aiomqtt
import orjson

from fireroom import mqtt
from fireroom.clock import Clock, SystemClock
from fireroom.codec import DataType
from fireroom.config import DeviceConfig, MqttConfig, MqttTransport, Site
from fireroom.domain import Quality, Reading
from fireroom.jsonpath import MissingValue, parse_path
from fireroom.points import PointSpec
from gateway.backoff import Backoff
from gateway.decode import PointDecoder
from gateway.poller import DeviceState, DeviceStatus, Scan, ScanSink
from gateway.stats import DeviceReport, DeviceStats

__all__ = ["SILENT_INTERVALS", "GarbageValue", "JsonPoint", "MqttDevice", "MqttDevices"]

log = logging.getLogger(__name__)

SILENT_INTERVALS = 3  # expected reporting intervals without a message before a device is lost

_BITS = (DataType.BIT, DataType.COIL, DataType.DISCRETE)
_WORD_MAX = {DataType.U16: 0xFFFF, DataType.U32: 0xFFFF_FFFF}


class GarbageValue(ValueError):
    """A JSON value that cannot be the point's value; the message says why."""


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class JsonPoint:
    """One point of an MQTT device: where its value is in the JSON and how it decodes."""

    __slots__ = ("bits", "decoder", "labels", "name", "path", "word_max")

    def __init__(self, spec: PointSpec) -> None:
        if spec.path is None:
            raise ValueError(f"point {spec.name!r} has no JSON path")
        self.name = spec.name
        self.path = parse_path(spec.path)
        self.decoder = PointDecoder(spec)
        self.bits = spec.type in _BITS
        # Status words and enumerations are register images: whole numbers in the type's range.
        self.word_max = _WORD_MAX[spec.type] if (spec.flags or spec.enum) else None
        self.labels = {label: number for number, label in (spec.enum or {}).items()}

    def reading(self, value: object) -> Reading:
        """The reading of a value taken from the JSON; `GarbageValue` if it cannot be one."""
        return self.decoder.from_raw(self.raw(value))

    def raw(self, value: object) -> bool | int | float:
        """The value as the point's registers would hold it."""
        if self.bits:
            if isinstance(value, bool):
                return value
            if type(value) is int and value in (0, 1):
                return bool(value)
            raise GarbageValue(f"{value!r} is not true or false")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise GarbageValue(f"a JSON {_json_kind(value)} is not a number")
        if self.word_max is not None:
            if isinstance(value, str):
                if value in self.labels:
                    return self.labels[value]
                if self.labels:
                    raise GarbageValue(f"{value!r} is not one of {sorted(self.labels)}")
                raise GarbageValue(f"{value!r} is not a number")
            if isinstance(value, float):
                if not value.is_integer():
                    raise GarbageValue(f"{value!r} is not a whole number")
                value = int(value)
            if not 0 <= value <= self.word_max:
                raise GarbageValue(f"{value} is outside 0..{self.word_max}")
            return value
        if isinstance(value, str):
            raise GarbageValue(f"{value!r} is not a number")
        return value


class MqttDevice:
    """One MQTT-native device: its points, its silence timer and its counters.

    Args:
        config: the device's config; `poll_interval` is how often it is expected to publish.
        points: its resolved points, each with a `path`.
        sink: receives every scan and every online/offline change.
        clock: wall time for timestamps, monotonic time for the silence timer.
    """

    def __init__(
        self,
        config: DeviceConfig,
        points: Sequence[PointSpec],
        sink: ScanSink,
        *,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(config.transport, MqttTransport):
            raise TypeError(f"{config.id}: {config.transport.describe()} is not MQTT")
        self.config = config
        self.transport = config.transport
        self.filter = aiomqtt.Wildcard(config.transport.topic)
        self.points = [JsonPoint(spec) for spec in points]
        self.sink = sink
        self.clock: Clock = clock or SystemClock()
        self.silence_limit = SILENT_INTERVALS * config.poll_interval
        self.stats = DeviceStats()
        self.state = DeviceState(config.id, sink, self.clock, self.stats)
        self._seq = 0
        self._heard = self.clock.monotonic()  # the last usable message, or the start

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def status(self) -> DeviceStatus | None:
        return self.state.status

    def matches(self, topic: aiomqtt.Topic) -> bool:
        return topic.matches(self.filter)

    def receive(self, topic: str, document: object) -> None:
        """Turn one parsed message into a scan of the points it holds."""
        if not isinstance(document, dict):
            self.garbage(topic, f"a JSON {_json_kind(document)}, not an object")
            return
        ts = self.state.stamp()
        readings: list[Reading] = []
        for point in self.points:
            try:
                value = point.path.extract(document)
            except MissingValue:
                continue  # devices may send some points in one message, others in the next
            try:
                readings.append(point.reading(value))
            except GarbageValue as exc:
                self.stats.errors["garbage"] += 1
                log.debug("%s: %s on %s: %s", self.id, point.name, topic, exc)
                readings.append(Reading(point.name, None, Quality.BAD))
        if not readings:
            # Nothing of this device: a mistaken path or another device's message, not a sign
            # of life worth keeping the device online for.
            self.garbage(topic, "none of its points")
            return
        self._heard = self.clock.monotonic()
        self.stats.scans += 1
        self.stats.last_good = ts
        self.state.online(ts)
        self._seq += 1
        # A message with some of the points is published as partial, so consumers keep the
        # others as they were instead of taking the message for the whole device.
        partial = False if len(readings) < len(self.points) else None
        self.sink.scan(Scan(self.id, ts, self._seq, readings, ok=True, full=partial))

    def garbage(self, topic: str, reason: str) -> None:
        """Count a message that gave no scan at all."""
        self.stats.errors["garbage"] += 1
        log.debug("%s: message on %s dropped: %s", self.id, topic, reason)

    async def watch(self) -> None:
        """Declare the device lost when silent too long; report it lost every interval."""
        if self.status is None:
            self._heard = self.clock.monotonic()
        while True:
            silent = self.clock.monotonic() - self._heard
            if silent < self.silence_limit:
                await self.clock.sleep(self.silence_limit - silent)
                continue
            ts = self.state.stamp()
            self.state.offline(ts, f"no message for {self.silence_limit:g} s")
            self._seq += 1
            self.stats.failed_scans += 1
            # Never the last values: a lost device must look lost.
            lost = [Reading(point.name, None, Quality.COMM_LOST) for point in self.points]
            self.sink.scan(Scan(self.id, ts, self._seq, lost, ok=False))
            await self.clock.sleep(self.config.poll_interval)

    def report(self, *, published: int, dropped: int) -> DeviceReport:
        state = self.status.state if self.status else "unknown"
        return self.stats.report(
            state=state, requests_per_scan=0, published=published, dropped=dropped
        )


class _Listener:
    """One broker connection and the devices heard through it."""

    def __init__(
        self,
        broker: MqttConfig,
        client_id: str,
        devices: list[MqttDevice],
        *,
        clock: Clock,
        rng: random.Random | None,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.devices = devices
        self.filters = sorted({device.transport.topic for device in devices})
        self.clock = clock
        self.backoff = Backoff(rng=rng)
        self.connections = 0  # successful subscriptions, the first included
        self.subscribed = asyncio.Event()
        self._lost_at: float | None = None

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                self.subscribed.clear()
                for device in self.devices:
                    device.stats.errors["connection"] += 1
                if self._lost_at is None:
                    self._lost_at = self.clock.monotonic()
                    log.warning("mqtt %s:%s (devices) lost: %s",
                                self.broker.host, self.broker.port, exc)
            await self.clock.sleep(self.backoff.next())

    async def _session(self) -> None:
        async with mqtt.client(self.broker, self.client_id, timeout=5) as client:
            # QoS 1: a device that publishes at QoS 1 keeps that guarantee up to the gateway.
            for topic_filter in self.filters:
                await client.subscribe(topic_filter, qos=1)
            self.connections += 1
            self.backoff.reset()
            if self._lost_at is not None:
                log.warning("mqtt %s:%s (devices) recovered after %.1f s", self.broker.host,
                            self.broker.port, self.clock.monotonic() - self._lost_at)
                self._lost_at = None
            self.subscribed.set()
            async for message in client.messages:
                self.route(message)
        raise aiomqtt.MqttError("message stream ended")

    def route(self, message: aiomqtt.Message) -> None:
        """Hand a message to every device whose filter matches its topic."""
        if message.retain:
            # A retained message is replayed on subscribing, however old it is: it says
            # nothing about whether the device is alive now.
            return
        devices = [device for device in self.devices if device.matches(message.topic)]
        if not devices:
            return
        topic = message.topic.value
        try:
            document = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            for device in devices:
                device.garbage(topic, "not JSON")
            return
        for device in devices:
            device.receive(topic, document)


class MqttDevices:
    """Hears every MQTT-native device of a site.

    Args:
        site: the validated site; its devices with an `mqtt` transport are heard here.
        mqtt: the site's broker, for the devices that name no `broker` of their own.
        sink: receives every scan and every online/offline change (the gateway's publisher).
        gateway_id: prefix of the client ids: `<gateway>-devices`, then `-devices-2`, ...
        clock: time source for timestamps, silence timers and reconnect delays.
        rng: source of the reconnect jitter.
    """

    def __init__(
        self,
        site: Site,
        mqtt: MqttConfig,
        sink: ScanSink,
        *,
        gateway_id: str,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.devices: dict[str, MqttDevice] = {}
        groups: list[tuple[MqttConfig, list[MqttDevice]]] = []
        for config in site.config.devices:
            if not isinstance(config.transport, MqttTransport):
                continue
            device = MqttDevice(config, site.points.get(config.id, []), sink, clock=self.clock)
            self.devices[config.id] = device
            broker = config.transport.broker or mqtt
            for known, members in groups:
                if known == broker:
                    members.append(device)
                    break
            else:
                groups.append((broker, [device]))
        self.listeners = [
            _Listener(broker, f"{gateway_id}-devices" + (f"-{n + 1}" if n else ""), members,
                      clock=self.clock, rng=rng)
            for n, (broker, members) in enumerate(groups)
        ]

    async def run(self) -> None:
        """Listen and watch for silence until cancelled."""
        async with asyncio.TaskGroup() as group:
            for listener in self.listeners:
                group.create_task(listener.run(), name=f"gateway[{listener.client_id}].listen")
            for device in self.devices.values():
                group.create_task(device.watch(), name=f"gateway[{device.id}].silence")

    async def subscribed(self) -> None:
        """Until every broker connection has its filters subscribed."""
        for listener in self.listeners:
            await listener.subscribed.wait()
