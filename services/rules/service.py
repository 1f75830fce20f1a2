"""The rules service: subscribes to a site's telemetry, runs the engine, records and announces
incidents. One per site; `run()` lasts until cancelled and rides out broker outages."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import aiomqtt
import orjson

from fireroom import mqtt, topics
from fireroom.clock import Clock, SystemClock
from fireroom.config import MqttConfig, Site
from fireroom.telemetry import MAX_PAYLOAD_BYTES, Reassembly, Telemetry, TelemetryError, decode
from services.incidents import IncidentChange, IncidentStore
from services.rules.engine import RulesEngine
from services.rules.record import record_transitions
from services.rules.transitions import Transition

if TYPE_CHECKING:
    from services.compliance import ComplianceEngine

__all__ = ["RulesService"]

log = logging.getLogger(__name__)

_REJECT_LOG_INTERVAL = 10.0  # seconds between log lines per rejection reason
_OUTBOX_LIMIT = 10_000  # incident changes kept for publishing while the broker is away


class _Rejected(Exception):
    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class RulesService:
    """Evaluates one site's telemetry and keeps its incidents.

    Args:
        site: the validated site config.
        mqtt: where the broker is.
        store: the incident store; open incidents in it are resumed at start.
        clock: time source for the engine and the tick cadence.
        tick_interval: seconds between time-based rule checks (comm_loss).
        reconnect_min: first delay before reconnecting; doubles up to `reconnect_max`.
        incident_writer: also given every recorded change (InfluxDB); must not block.
        compliance: the test obligations engine, fed the same telemetry and ticks.
    """

    def __init__(
        self,
        site: Site,
        mqtt: MqttConfig,
        store: IncidentStore,
        *,
        clock: Clock | None = None,
        tick_interval: float = 0.2,
        reconnect_min: float = 0.5,
        reconnect_max: float = 15.0,
        incident_writer: Callable[[list[IncidentChange]], None] | None = None,
        compliance: ComplianceEngine | None = None,
    ) -> None:
        self.site = site
        self.mqtt = mqtt
        self.store = store
        self._clock = clock or SystemClock()
        self._tick_interval = tick_interval
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._engine = RulesEngine(site, self._clock)
        # Devices that report by exception send changes; the rules see every point each scan,
        # so hold times run on as they would with full messages.
        self._reassembly = Reassembly()
        self._stats: Counter[str] = Counter()
        self._outbox: deque[bytes] = deque(maxlen=_OUTBOX_LIMIT)
        self._last_reject_log: dict[str, float] = {}
        self._topic = topics.incidents(site.id)
        self._restored = False
        self._apply_lock = asyncio.Lock()
        self._incident_writer = incident_writer
        self._compliance = compliance

    @property
    def engine(self) -> RulesEngine:
        return self._engine

    def stats(self) -> dict[str, int]:
        """Counters: messages, accepted, readings, rejected and rejected_<reason>, changes..."""
        return dict(self._stats)

    def restore(self) -> int:
        """Resume the store's active incidents; run() does this once, before connecting."""
        count = 0
        for incident in self.store.open_incidents(site=self.site.id):
            if incident.is_active and self._engine.restore(
                incident.rule, incident.subject, incident.detail
            ):
                count += 1
        self._restored = True
        if count:
            log.info("rules[%s]: resumed %d active incident(s)", self.site.id, count)
        return count

    async def run(self) -> None:
        if not self._restored:
            await asyncio.to_thread(self.restore)
        delay = self._reconnect_min
        down_since: float | None = None
        while True:
            connects = self._stats["connects"]
            failure: Exception | None = None
            try:
                await self._session(down_since)
            except* aiomqtt.MqttError as group:
                failure = group.exceptions[0]
            if self._stats["connects"] > connects:
                # The session had worked: this is a new outage, back off from the start.
                delay, down_since = self._reconnect_min, None
            self._stats["connection_errors"] += 1
            if down_since is None:
                down_since = time.monotonic()
                log.error(
                    "rules[%s]: broker %s:%d unavailable (%s); alarms are not being evaluated",
                    self.site.id,
                    self.mqtt.host,
                    self.mqtt.port,
                    failure,
                )
            # Jitter spreads the reconnects of many sites after a broker restart.
            await self._clock.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._reconnect_max)

    async def _session(self, down_since: float | None) -> None:
        client = mqtt.client(
            self.mqtt, f"fireroom-rules-{self.site.id}-{secrets.token_hex(4)}"
        )
        async with client:
            await client.subscribe(topics.telemetry(self.site.id, "+"), qos=0)
            self._stats["connects"] += 1
            if down_since is not None:
                log.warning(
                    "rules[%s]: broker connection recovered after %.1f s",
                    self.site.id,
                    time.monotonic() - down_since,
                )
            else:
                log.info(
                    "rules[%s]: listening on %s:%d", self.site.id, self.mqtt.host, self.mqtt.port
                )
            # Our own outage says nothing about the devices: give them a fresh silence window.
            self._engine.resume()
            await self._flush(client)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._ticker(client), name=f"rules[{self.site.id}].tick")
                await self._receive(client)

    async def _ticker(self, client: aiomqtt.Client) -> None:
        while True:
            await self._clock.sleep(self._tick_interval)
            transitions = self._engine.tick()
            if self._compliance is not None:
                transitions = transitions + self._compliance.tick()
            if transitions:
                await self._apply(client, transitions)

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._stats["messages"] += 1
            try:
                telemetry = self._accept(str(message.topic), message.payload)
            except _Rejected as exc:
                self._reject(exc)
                continue
            self._stats["accepted"] += 1
            self._stats["readings"] += len(telemetry.readings)
            transitions = self._engine.evaluate(telemetry)
            if self._compliance is not None:
                transitions = transitions + self._compliance.evaluate(telemetry)
            if transitions:
                await self._apply(client, transitions)

    def _accept(self, topic: str, payload: object) -> Telemetry:
        if isinstance(payload, str):
            payload = payload.encode()
        if not isinstance(payload, (bytes, bytearray)):
            raise _Rejected("malformed", f"{topic}: payload is not bytes")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise _Rejected(
                "oversized", f"{topic}: {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}"
            )
        try:
            _, _, topic_device = topics.parse_device_topic(topic)
            telemetry = decode(bytes(payload))
        except (TelemetryError, ValueError) as exc:
            raise _Rejected("malformed", f"{topic}: {exc}") from exc
        if telemetry.site != self.site.id:
            raise _Rejected("wrong_site", f"{topic}: payload names site {telemetry.site!r}")
        if telemetry.device != topic_device:
            raise _Rejected(
                "device_mismatch", f"{topic}: payload names device {telemetry.device!r}"
            )
        if telemetry.device not in self._engine.devices:
            raise _Rejected("unknown_device", f"{topic}: device not in the site config")
        return self._reassembly.complete(telemetry)

    def _reject(self, exc: _Rejected) -> None:
        self._stats["rejected"] += 1
        self._stats[f"rejected_{exc.reason}"] += 1
        now = time.monotonic()
        last = self._last_reject_log.get(exc.reason)
        if last is None or now - last >= _REJECT_LOG_INTERVAL:
            self._last_reject_log[exc.reason] = now
            log.warning(
                "rules[%s]: dropped telemetry (%s, %d so far): %s",
                self.site.id,
                exc.reason,
                self._stats[f"rejected_{exc.reason}"],
                exc,
            )

    async def _apply(self, client: aiomqtt.Client, transitions: list[Transition]) -> None:
        self._stats["transitions"] += len(transitions)
        # Ticks and messages both produce transitions; the lock (FIFO, taken before any await)
        # keeps them reaching the store and the topic in the order the engine decided them.
        async with self._apply_lock:
            # SQLite commits (fsync) would stall the message loop; run them on a worker thread.
            changes = await asyncio.to_thread(self._write, transitions)
            if self._incident_writer is not None:
                self._incident_writer(changes)
            for change in changes:
                self._outbox.append(orjson.dumps(change.to_dict()))
            await self._flush(client)

    def _write(self, transitions: Iterable[Transition]) -> list[IncidentChange]:
        return record_transitions(self.store, self.site.id, transitions, self._stats)

    async def _flush(self, client: aiomqtt.Client) -> None:
        while self._outbox:
            await mqtt.publish(client, self._topic, self._outbox[0], qos=1)
            self._outbox.popleft()
            self._stats["published"] += 1
