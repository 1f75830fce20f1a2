"""The gateway's MQTT side: one connection, reconnected with backoff, fed without blocking.

Pollers hand scans over with `scan()` and `status()`, which never wait: a slow or absent broker
must not delay a device's scans. Telemetry goes out at QoS 0: the latest state matters more than
every sample, and spotting gaps is the consumers' job (`seq`); the retained device and gateway
statuses go at QoS 1 and are published again after every reconnect, so the broker always holds
the current picture. While the broker is away telemetry is dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

import aiomqtt
import orjson

from fireroom import mqtt, topics
from fireroom.clock import Clock, SystemClock
from fireroom.config import MqttConfig
from fireroom.telemetry import Telemetry, encode
from gateway.backoff import Backoff
from gateway.poller import DeviceStatus, Scan

__all__ = ["PublishStats", "Publisher"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PublishStats:
    published: int = 0
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class _Message:
    device: str | None  # None for statuses, which are never counted as telemetry
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Publisher:
    """Publishes telemetry and statuses of one site's gateway.

    Args:
        site: the site id, first part of every topic.
        mqtt: where the broker is.
        gateway_id: the MQTT client id and the name in the gateway status topic.
        clock: wall time for the gateway status.
        queue_size: telemetry messages held while the connection is slow; more are dropped.
        rng: source of the reconnect jitter.
    """

    def __init__(
        self,
        site: str,
        mqtt: MqttConfig,
        *,
        gateway_id: str,
        clock: Clock | None = None,
        queue_size: int = 1000,
        rng: random.Random | None = None,
    ) -> None:
        self.site = site
        self.mqtt = mqtt
        self.gateway_id = gateway_id
        self.clock: Clock = clock or SystemClock()
        self.queue_size = queue_size
        self.stats: dict[str, PublishStats] = {}
        self.connections = 0  # successful broker connections, the first included
        self._backoff = Backoff(rng=rng)
        self._queue: asyncio.Queue[_Message] = asyncio.Queue()
        self._statuses: dict[str, DeviceStatus] = {}
        self._connected = False
        self._lost_at: float | None = None
        self._status_topic = topics.gateway_status(site, gateway_id)

    @property
    def connected(self) -> bool:
        return self._connected

    def scan(self, scan: Scan) -> None:
        stats = self.stats.setdefault(scan.device, PublishStats())
        if not self._connected or self._queue.qsize() >= self.queue_size:
            stats.dropped += 1
            return
        payload = encode(
            Telemetry(self.site, scan.device, scan.ts, scan.seq, scan.readings, scan.full)
        )
        self._queue.put_nowait(
            _Message(scan.device, topics.telemetry(self.site, scan.device), payload, 0, False)
        )

    def status(self, device: str, status: DeviceStatus) -> None:
        self._statuses[device] = status
        if self._connected:
            self._queue.put_nowait(self._status_message(device, status))

    def _status_message(self, device: str, status: DeviceStatus) -> _Message:
        return _Message(None, topics.status(self.site, device), status.to_json(), 1, True)

    def _gateway_status(self, state: str, reason: str = "") -> bytes:
        return orjson.dumps({"state": state, "since": self.clock.now(), "reason": reason})

    async def run(self) -> None:
        """Keep a broker connection until cancelled."""
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                if self._lost_at is None:
                    self._lost_at = self.clock.monotonic()
                    log.warning("mqtt %s:%s lost: %s", self.mqtt.host, self.mqtt.port, exc)
            finally:
                self._disconnected()
            await self.clock.sleep(self._backoff.next())

    async def _session(self) -> None:
        # The broker sends the will long after it was armed: its time is unknown, hence null.
        will_payload = orjson.dumps(
            {"state": "offline", "since": None, "reason": "connection lost"}
        )
        will = aiomqtt.Will(self._status_topic, will_payload, qos=1, retain=True)
        async with mqtt.client(self.mqtt, self.gateway_id, will=will, timeout=5) as client:
            await mqtt.publish(client, self._status_topic, self._gateway_status("online"), 1, True)
            self._connected = True
            self._backoff.reset()
            self.connections += 1
            if self._lost_at is not None:
                log.warning("mqtt recovered after %.1f s", self.clock.monotonic() - self._lost_at)
                self._lost_at = None
            for device, status in self._statuses.items():
                self._queue.put_nowait(self._status_message(device, status))
            try:
                await self._serve(client)
            except asyncio.CancelledError:
                # A clean disconnect suppresses the last will, so say goodbye ourselves.
                self._connected = False
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                    async with asyncio.timeout(1):
                        await client.publish(
                            self._status_topic, self._gateway_status("offline", "stopped"), 1, True
                        )
                raise

    async def _serve(self, client: aiomqtt.Client) -> None:
        error: aiomqtt.MqttError | None = None
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._drain(client), name=f"gateway[{self.gateway_id}].publish")
                group.create_task(self._watch(client), name=f"gateway[{self.gateway_id}].watch")
        except* aiomqtt.MqttError as errors:
            error = errors.exceptions[0]  # type: ignore[assignment]
        if error is not None:
            raise error

    async def _drain(self, client: aiomqtt.Client) -> None:
        while True:
            message = await self._queue.get()
            try:
                await mqtt.publish(
                    client, message.topic, message.payload, message.qos, message.retain
                )
            except aiomqtt.MqttError:
                self._count(message, published=False)
                raise
            self._count(message, published=True)

    async def _watch(self, client: aiomqtt.Client) -> None:
        # Nothing is subscribed: the iterator only ends by raising when the connection drops.
        async for _ in client.messages:
            pass
        raise aiomqtt.MqttError("message stream ended")

    def _count(self, message: _Message, *, published: bool) -> None:
        if message.device is None:
            return
        stats = self.stats.setdefault(message.device, PublishStats())
        if published:
            stats.published += 1
        else:
            stats.dropped += 1

    def _disconnected(self) -> None:
        self._connected = False
        # What was queued for the lost connection is gone; statuses are re-sent on reconnect.
        while not self._queue.empty():
            self._count(self._queue.get_nowait(), published=False)
