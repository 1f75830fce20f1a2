"""The gateway's MQTT side: one connection, reconnected with backoff, fed without blocking.

Pollers hand scans over with `scan()` and `status()`, which never wait: a slow or absent broker
must not delay a device's scans. Messages wait in one bounded queue, in order, also while the
broker is away (a cold start included) and across a reconnect; when it is full the oldest
telemetry goes, counted as dropped, and its device's next message is made full
(`gateway.snapshots`), since a consumer cannot trust the changes that follow a lost one.

Telemetry of devices with alarm-bearing points goes at QoS 1, the rest at QoS 0: a fire must
not vanish in a dropped packet, while a pressure reading is soon superseded. aiomqtt waits for
the broker's PUBACK, so several messages are in flight at once (`_WINDOW` workers draining the
queue; each hands its message to paho before its first wait, so they leave in queue order).
The retained device and gateway statuses go at QoS 1 and are published again after every
reconnect, so the broker always holds the current picture.

In the same session the gateway beats its heartbeat (`fireroom.heartbeat`) and listens for
snapshot requests. MQTT allows one last will per connection and the gateway status topic
keeps it (a contract); a broken connection leaves the heartbeat silent, which watchers count
as gone, and a clean stop publishes both offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass

import aiomqtt
import orjson

from fireroom import heartbeat, mqtt, topics
from fireroom.clock import Clock, SystemClock
from fireroom.config import MqttConfig
from fireroom.telemetry import Telemetry, encode
from gateway.backoff import Backoff
from gateway.poller import DeviceStatus, Scan
from gateway.snapshots import SnapshotRequests

__all__ = ["PublishStats", "Publisher"]

log = logging.getLogger(__name__)

# Messages in flight at once: enough to keep a QoS 1 stream going while PUBACKs return, no
# more than paho's own in-flight window, so paho never holds one back in a queue of its own.
_WINDOW = 16
_INCOMING = 64  # snapshot requests waiting to be read; a flood beyond that is not our memory's


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
        clock: wall time for the gateway status and the heartbeat.
        queue_size: telemetry messages held while the broker is slow or away; the oldest go.
        rng: source of the reconnect jitter.
        reliable: devices whose telemetry goes at QoS 1 (those with alarm-bearing points).
        snapshots: devices owing a full message; fed by snapshot requests and lost messages.
        heartbeat_seconds: beat the gateway's heartbeat this often; None for no heartbeat.
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
        reliable: Collection[str] = (),
        snapshots: SnapshotRequests | None = None,
        heartbeat_seconds: float | None = None,
    ) -> None:
        self.site = site
        self.mqtt = mqtt
        self.gateway_id = gateway_id
        self.clock: Clock = clock or SystemClock()
        self.queue_size = queue_size
        self.reliable = frozenset(reliable)
        self.snapshots = snapshots
        self.heartbeat_seconds = heartbeat_seconds
        self.stats: dict[str, PublishStats] = {}
        self.connections = 0  # successful broker connections, the first included
        # The broker is a fire alarm's only way out: never wait long to try it again.
        self._backoff = Backoff(limit=2.0, rng=rng)
        self._queue: deque[_Message] = deque()
        self._ready = asyncio.Event()  # set while the queue holds something
        self._telemetry = 0  # telemetry messages in the queue
        # Messages handed to the broker and not yet confirmed, by the order they were taken.
        self._inflight: dict[int, _Message] = {}
        self._order = itertools.count()
        self._statuses: dict[str, DeviceStatus] = {}
        self._connected = False
        self._lost_at: float | None = None
        self._status_topic = topics.gateway_status(site, gateway_id)
        self._snapshot_topic = topics.snapshot_request(site)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def queued(self) -> int:
        """Telemetry messages waiting for the broker."""
        return self._telemetry

    def scan(self, scan: Scan) -> None:
        self.stats.setdefault(scan.device, PublishStats())
        if self._telemetry >= self.queue_size:
            self._drop_oldest()
        payload = encode(
            Telemetry(self.site, scan.device, scan.ts, scan.seq, scan.readings, scan.full)
        )
        qos = 1 if scan.device in self.reliable else 0
        self._put(_Message(scan.device, topics.telemetry(self.site, scan.device), payload, qos,
                           False))

    def status(self, device: str, status: DeviceStatus) -> None:
        self._statuses[device] = status
        # While the broker is away only the latest status matters: all are sent on connect.
        if self._connected:
            self._put(self._status_message(device, status))

    def _put(self, message: _Message) -> None:
        self._queue.append(message)
        if message.device is not None:
            self._telemetry += 1
        self._ready.set()

    def _drop_oldest(self) -> None:
        for index, message in enumerate(self._queue):
            if message.device is not None:
                del self._queue[index]
                self._telemetry -= 1
                self._count(message, published=False)
                if self.snapshots is not None:
                    self.snapshots.want(message.device)
                return

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
        async with mqtt.client(
            self.mqtt, self.gateway_id, will=will, timeout=5,
            max_inflight_messages=_WINDOW, max_queued_incoming_messages=_INCOMING,
        ) as client:
            await mqtt.publish(client, self._status_topic, self._gateway_status("online"), 1, True)
            if self.snapshots is not None:
                await client.subscribe(self._snapshot_topic, qos=1)
            self._connected = True
            self._backoff.reset()
            self.connections += 1
            if self._lost_at is not None:
                log.warning("mqtt recovered after %.1f s", self.clock.monotonic() - self._lost_at)
                self._lost_at = None
            # The current statuses first: they are the picture; queued telemetry is history.
            self._queue.extendleft(
                self._status_message(device, status)
                for device, status in reversed(self._statuses.items())
            )
            if self._queue:
                self._ready.set()
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
        name = f"gateway[{self.gateway_id}]"
        try:
            async with asyncio.TaskGroup() as group:
                for worker in range(_WINDOW):
                    group.create_task(self._drain(client), name=f"{name}.publish[{worker}]")
                group.create_task(self._watch(client), name=f"{name}.watch")
                if self.heartbeat_seconds is not None:
                    group.create_task(
                        heartbeat.beat(client, self.site, self.gateway_id, "gateway",
                                       interval=self.heartbeat_seconds, clock=self.clock),
                        name=f"{name}.heartbeat",
                    )
        except* aiomqtt.MqttError as errors:
            error = errors.exceptions[0]  # type: ignore[assignment]
        if error is not None:
            raise error

    async def _drain(self, client: aiomqtt.Client) -> None:
        queue = self._queue
        while True:
            while not queue:
                self._ready.clear()
                await self._ready.wait()
            message = queue.popleft()
            if message.device is not None:
                self._telemetry -= 1
            order = next(self._order)
            self._inflight[order] = message
            # mqtt.publish hands the message to paho before it first waits: taken in queue
            # order, messages leave in queue order whichever worker sends them.
            await mqtt.publish(client, message.topic, message.payload, message.qos,
                               message.retain)
            del self._inflight[order]
            self._count(message, published=True)

    async def _watch(self, client: aiomqtt.Client) -> None:
        # The iterator only ends by raising when the connection drops.
        async for message in client.messages:
            if self.snapshots is not None and message.topic.matches(self._snapshot_topic):
                payload = message.payload
                if isinstance(payload, str):
                    payload = payload.encode()
                if isinstance(payload, bytes | bytearray):
                    self.snapshots.request(bytes(payload))
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
        # Unconfirmed telemetry goes back to the front, in order, to be sent after reconnect
        # (a duplicate is better than a gap); statuses are re-sent from `_statuses` anyway,
        # and an old one sent after the current would leave the wrong one retained.
        unconfirmed = [self._inflight[order] for order in sorted(self._inflight)]
        self._inflight.clear()
        kept = [m for m in itertools.chain(unconfirmed, self._queue) if m.device is not None]
        self._queue.clear()
        self._queue.extend(kept)
        self._telemetry = len(kept)
        while self._telemetry > self.queue_size:
            self._drop_oldest()
