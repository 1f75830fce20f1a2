"""The rules service: subscribes to a site's telemetry, runs the engine, records and announces
incidents. One per site; `run()` lasts until cancelled and rides out broker outages.

The monitoring chain fails safe (DESIGN.md): time-based rules keep running while the broker is
away, and the devices it hides go comm_lost; an incident is known only once stored (pending.py);
a gap in a device's `seq` makes its state unknown until a snapshot; the service beats a
heartbeat and watches the gateways' (watch.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import aiomqtt
import orjson

from fireroom import heartbeat, mqtt, topics
from fireroom.clock import Clock, SystemClock
from fireroom.config import MqttConfig, Site
from fireroom.domain import Severity
from fireroom.telemetry import Telemetry
from services.incidents import IncidentChange, IncidentStore
from services.rules.engine import RulesEngine
from services.rules.intake import Intake, Rejected
from services.rules.pending import Recorder
from services.rules.transitions import (
    MONITORING_DEGRADED,
    NONCONFORMING_CONFIGURATION,
    Clear,
    Raise,
    Transition,
)
from services.rules.watch import GatewayWatch

if TYPE_CHECKING:
    from services.compliance import ComplianceEngine

__all__ = ["RulesService"]

log = logging.getLogger(__name__)

_OUTBOX_LIMIT: Final = 10_000  # incident events kept for publishing while the broker is away
# aiomqtt waits 10 s for an unanswered connect (a proxy or bridge that accepted the socket while
# the broker behind it restarts); telemetry waiting on it would be a fire alarm late.
_CONNECT_TIMEOUT: Final = 3.0


class RulesService:
    """Evaluates one site's telemetry and keeps its incidents.

    Args:
        site: the validated site config.
        mqtt: where the broker is.
        store: the incident store; open incidents in it are resumed at start.
        clock: time source for the engine, the ticks, retries and heartbeats.
        tick_interval: seconds between time-based rule checks (comm_loss, gateways).
        reconnect_min: first delay before reconnecting; doubles up to `reconnect_max`.
        retry_min: first delay before retrying a failed store write; doubles up to `retry_max`.
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
        reconnect_max: float = 2.0,
        retry_min: float = 0.5,
        retry_max: float = 5.0,
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
        self._stats: Counter[str] = Counter()
        self._intake = Intake(site.id, self._engine.devices, self._clock, self._stats)
        self._outbox: deque[bytes] = deque(maxlen=_OUTBOX_LIMIT)
        self._outbox_ready = asyncio.Event()
        self._topic = topics.incidents(site.id)
        self._restored = False
        self._compliance = compliance
        self._recorder = Recorder(
            store,
            site.id,
            self._clock,
            self._stats,
            self._announce,
            changed=incident_writer,
            retry_min=retry_min,
            retry_max=retry_max,
        )
        monitoring = site.config.monitoring
        self._heartbeat_interval = monitoring.heartbeat_seconds
        self._gateways = GatewayWatch(
            site.id,
            self._clock,
            gone_after=monitoring.gone_after_seconds,
            expect=(f"gw-{site.id}",),
        )
        # monotonic() since which the service is cut from the broker; a start counts as one.
        self._down_since: float | None = self._clock.monotonic()
        self._name = f"rules[{site.id}]"

    @property
    def engine(self) -> RulesEngine:
        return self._engine

    def stats(self) -> dict[str, int]:
        """Counters: messages, accepted, readings, rejected and rejected_<reason>, changes..."""
        return dict(self._stats) | {"pending": len(self._recorder.pending)}

    def degraded(self) -> str:
        """What the heartbeat says is failing ("" when nothing)."""
        return self._recorder.degraded()

    def restore(self) -> int:
        """Resume the store's active incidents; run() does this once, before connecting."""
        count = 0
        for incident in self.store.open_incidents(site=self.site.id):
            if not incident.is_active:
                continue
            if incident.rule == MONITORING_DEGRADED:
                resumed = self._gateways.restore(incident.subject)
            else:
                resumed = self._engine.restore(incident.rule, incident.subject, incident.detail)
            count += resumed
        self._restored = True
        if count:
            log.info("%s: resumed %d active incident(s)", self._name, count)
        return count

    async def run(self) -> None:
        if not self._restored:
            await asyncio.to_thread(self.restore)
        await self._recorder.apply(self._conformance())
        # The ticker and the store's retries run whatever the broker does: comm_loss must
        # keep counting through an outage, and the store is local.
        async with asyncio.TaskGroup() as group:
            group.create_task(self._recorder.run(), name=f"{self._name}.store")
            group.create_task(self._ticker(), name=f"{self._name}.tick")
            group.create_task(self._connect(), name=f"{self._name}.mqtt")

    def _conformance(self) -> list[Transition]:
        site_id = self.site.id
        nonconforming = self.site.config.nonconforming
        if nonconforming is None:
            return [Clear(NONCONFORMING_CONFIGURATION, site_id)]
        log.warning(
            "%s: configuration does not meet GB 25506 timing: %s (approved by %s)",
            self._name,
            nonconforming.reason,
            nonconforming.approved_by,
        )
        return [
            Raise(
                NONCONFORMING_CONFIGURATION,
                site_id,
                Severity.MAJOR,
                f"Configuration does not meet GB 25506 timing: {nonconforming.reason}"
                f" (approved by {nonconforming.approved_by})",
                {"reason": nonconforming.reason, "approved_by": nonconforming.approved_by},
            )
        ]

    async def _connect(self) -> None:
        delay = self._reconnect_min
        logged_down = False
        while True:
            connects = self._stats["connects"]
            failure: Exception | None = None
            try:
                await self._session()
            except* aiomqtt.MqttError as group:
                failure = group.exceptions[0]
            if self._stats["connects"] > connects:
                # The session had worked: this is a new outage, back off from the start.
                delay, logged_down = self._reconnect_min, False
                self._down_since = self._clock.monotonic()
            self._stats["connection_errors"] += 1
            if not logged_down:
                logged_down = True
                log.error(
                    "%s: broker %s:%d unavailable (%s); no telemetry is being received",
                    self._name,
                    self.mqtt.host,
                    self.mqtt.port,
                    failure,
                )
            # Jitter spreads the reconnects of many sites after a broker restart.
            await self._clock.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._reconnect_max)

    async def _session(self) -> None:
        site_id = self.site.id
        interval = self._heartbeat_interval
        # A stable id and a persistent session: the broker keeps QoS 1 telemetry for us while
        # we reconnect. MQTT 3.1.1 (the default) has clean_session; clean_start is 5.0 only.
        client = mqtt.client(
            self.mqtt,
            f"fireroom-rules-{site_id}",
            will=heartbeat.offline_will(site_id, "rules", "rules", interval),
            clean_session=False,
            timeout=_CONNECT_TIMEOUT,
        )
        async with client:
            await client.subscribe(topics.telemetry(site_id, "+"), qos=1)
            # QoS 0: heartbeats are state (retained), not history; queued ones from while we
            # were away would be old news, the retained one is what counts.
            await client.subscribe(topics.heartbeat_filter(site_id), qos=0)
            self._stats["connects"] += 1
            if self._stats["connects"] > 1 and self._down_since is not None:
                log.warning(
                    "%s: broker connection recovered after %.1f s",
                    self._name,
                    self._clock.monotonic() - self._down_since,
                )
            else:
                log.info("%s: listening on %s:%d", self._name, self.mqtt.host, self.mqtt.port)
            self._down_since = None
            async with asyncio.TaskGroup() as group:
                group.create_task(self._publisher(client), name=f"{self._name}.publish")
                group.create_task(
                    heartbeat.beat(
                        client,
                        site_id,
                        "rules",
                        "rules",
                        interval=interval,
                        clock=self._clock,
                        degraded=self.degraded,
                    ),
                    name=f"{self._name}.heartbeat",
                )
                await self._receive(client)

    async def _ticker(self) -> None:
        while True:
            await self._clock.sleep(self._tick_interval)
            transitions = self._engine.tick(self._down_since)
            if self._compliance is not None:
                transitions = transitions + self._compliance.tick()
            transitions += self._gateways.check()
            if transitions:
                await self._recorder.apply(transitions)

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._stats["messages"] += 1
            topic = str(message.topic)
            try:
                _, kind, name = topics.parse_device_topic(topic)
            except ValueError:
                continue  # not ours: the filters give only fireroom device topics
            if kind == "heartbeat":
                await self._heard(name, message)
                continue
            try:
                telemetry, request = self._intake.take(topic, name, message.payload)
            except Rejected:
                continue
            if request is not None:
                await mqtt.publish(client, topics.snapshot_request(self.site.id), request, qos=1)
            await self._evaluate(telemetry)

    async def _heard(self, process: str, message: aiomqtt.Message) -> None:
        payload = message.payload
        data = payload if isinstance(payload, (bytes, bytearray)) else str(payload).encode()
        transitions = self._gateways.heard(process, bytes(data), retained=message.retain)
        self._stats["heartbeats"] += 1
        self._stats["heartbeat_garbage"] = self._gateways.garbage
        if transitions:
            await self._recorder.apply(transitions)

    async def _evaluate(self, telemetry: Telemetry) -> None:
        transitions = self._engine.evaluate(telemetry)
        if self._compliance is not None:
            transitions = transitions + self._compliance.evaluate(telemetry)
        if transitions:
            await self._recorder.apply(transitions)

    def _announce(self, event: dict[str, Any]) -> None:
        self._outbox.append(orjson.dumps(event))
        self._outbox_ready.set()

    async def _publisher(self, client: aiomqtt.Client) -> None:
        while True:
            await self._outbox_ready.wait()
            while self._outbox:
                await mqtt.publish(client, self._topic, self._outbox[0], qos=1)
                self._outbox.popleft()
                self._stats["published"] += 1
            self._outbox_ready.clear()
