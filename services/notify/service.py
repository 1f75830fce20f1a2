"""The notifier: incident changes from MQTT and overdue acknowledgements from the store, to
engineers through the durable outbox. One per site; `run()` lasts until cancelled.

It also watches the monitoring chain from outside the rules service: it beats as `notify`,
listens to the site's heartbeats and raises `monitoring_degraded` itself when the rules service
or the broker is gone (services/notify/watchdog.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import orjson

from fireroom import heartbeat, mqtt, topics
from fireroom.clock import Clock, SystemClock
from fireroom.config import MqttConfig, Site
from fireroom.domain import IncidentState
from services.incidents import EventKind, IncidentChange, IncidentStore
from services.notify.chain import ChainWatch
from services.notify.channels import DeliveryError, Sender, make_sender
from services.notify.outbox import Alert, Outbox
from services.notify.plan import change_alerts, overdue_alerts
from services.notify.watchdog import MonitoringIncidents

__all__ = ["NotifyService"]

log = logging.getLogger(__name__)

_MAX_PAYLOAD = 256 * 1024
_REQUIRED = ("id", "site", "rule", "subject", "device", "severity", "state", "message", "count")
# Until a person acknowledges, cleared or not: a fire alarm that cleared by itself is still a
# fire nobody has looked at.
_UNACKED = (IncidentState.ACTIVE_UNACKED, IncidentState.CLEARED_UNACKED)


class NotifyService:
    """Sends a site's incident alerts to its engineers.

    Args:
        site: the validated site config; its `notifications` section says who and how.
        mqtt: the broker carrying the rules service's incident changes.
        store: the incident store, polled for incidents still unacknowledged.
        outbox_path: the SQLite outbox; alerts in it survive a restart and are sent then.
        clock: time for escalation, reminders and retry backoff.
        reconnect_min: first delay before reconnecting to the broker; doubles up to
            `reconnect_max`.
        supervise: watch the rules service and the broker (`monitoring_degraded`); off only
            where a test looks at escalation alone.
    """

    def __init__(
        self,
        site: Site,
        mqtt: MqttConfig,
        store: IncidentStore,
        *,
        outbox_path: Path,
        clock: Clock | None = None,
        reconnect_min: float = 0.5,
        reconnect_max: float = 2.0,
        supervise: bool = True,
    ) -> None:
        self.site = site
        self.mqtt = mqtt
        self.store = store
        self.config = site.config.notifications
        self.outbox = Outbox(outbox_path)
        self._clock: Clock = clock or SystemClock()
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._stats: Counter[str] = Counter()
        self._wake = {channel.id: asyncio.Event() for channel in self.config.channels}
        self._client: aiomqtt.Client | None = None
        self._name = f"notify[{site.id}]"
        self._monitoring = site.config.monitoring
        self.chain = ChainWatch(self._clock, self._monitoring.gone_after_seconds)
        self._supervise = supervise
        self._watchdog = MonitoringIncidents(
            site.id, store, self.chain, plan=lambda change: change_alerts(self.config, change),
            queue=self._queue,
        )

    def stats(self) -> dict[str, int]:
        """Counters: received, rejected, queued, duplicates, sent, failed (attempts), dead,
        connects; `pending` is read from the outbox."""
        stats = dict(self._stats)
        stats["pending"] = self.outbox.counts()["pending"]
        return stats

    def close(self) -> None:
        self.outbox.close()

    async def run(self) -> None:
        async with httpx.AsyncClient() as client, asyncio.TaskGroup() as group:
            for channel in self.config.channels:
                sender = make_sender(channel, site=self.site.id, client=client,
                                     clock=self._clock, publish=self._publish)
                group.create_task(self._deliver(channel.id, sender),
                                  name=f"{self._name}.send[{channel.id}]")
            group.create_task(self._poll(), name=f"{self._name}.poll")
            group.create_task(self._listen(), name=f"{self._name}.mqtt")
            if self._supervise:
                group.create_task(self._watch_chain(), name=f"{self._name}.watchdog")

    async def _queue(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        added = await asyncio.to_thread(self.outbox.add, alerts, self._clock.now())
        self._stats["queued"] += len(added)
        self._stats["duplicates"] += len(alerts) - len(added)
        for alert in added:
            self._wake[alert.channel].set()

    # Incoming: changes from MQTT, overdue incidents from the store.

    async def _listen(self) -> None:
        delay = self._reconnect_min
        down_since: float | None = None
        while True:
            connects = self._stats["connects"]
            failure: Exception | None = None
            try:
                await self._session(down_since)
            except* aiomqtt.MqttError as group:
                failure = group.exceptions[0]
            finally:
                self._client = None
                self.chain.disconnected(str(failure) if failure else "connection closed")
            if self._stats["connects"] > connects:
                delay, down_since = self._reconnect_min, None
            if down_since is None:
                down_since = time.monotonic()
                log.error("%s: broker %s:%d unavailable (%s); escalations still run from the"
                          " store", self._name, self.mqtt.host, self.mqtt.port, failure)
            # Jitter spreads the reconnects of many sites after a broker restart.
            await self._clock.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._reconnect_max)

    async def _session(self, down_since: float | None) -> None:
        site = self.site.id
        interval = self._monitoring.heartbeat_seconds
        client = mqtt.client(
            self.mqtt, f"fireroom-notify-{site}-{secrets.token_hex(4)}",
            will=heartbeat.offline_will(site, "notify", "notify", interval),
            timeout=3,  # an unanswered connect must not keep fire alarm alerts waiting 10 s
        )
        async with client, asyncio.TaskGroup() as group:
            await client.subscribe(topics.incidents(site), qos=1)
            await client.subscribe(topics.heartbeat_filter(site), qos=1)
            self._client = client
            self.chain.connected()
            self._stats["connects"] += 1
            if down_since is not None:
                log.warning("%s: broker connection recovered after %.1f s", self._name,
                            time.monotonic() - down_since)
            group.create_task(
                heartbeat.beat(client, site, "notify", "notify", interval=interval,
                               clock=self._clock),
                name=f"{self._name}.heartbeat",
            )
            async for message in client.messages:
                if message.topic.matches(topics.incidents(site)):
                    await self._receive(message.payload)
                else:
                    self._heard(message.payload)

    def _heard(self, payload: object) -> None:
        try:
            if not isinstance(payload, (bytes, bytearray)):
                raise ValueError("payload is not bytes")  # noqa: TRY004, TRY301
            self.chain.heard(heartbeat.decode(bytes(payload)))
        except ValueError as exc:
            self._stats["rejected_heartbeats"] += 1
            log.warning("%s: dropped heartbeat: %s", self._name, exc)

    async def _watch_chain(self) -> None:
        # Often enough that an outage is reported within a fraction of the window.
        every = min(self._monitoring.heartbeat_seconds, self.chain.gone_after / 4)
        while True:
            await self._watchdog.check()
            await self._clock.sleep(every)

    async def _receive(self, payload: object) -> None:
        self._stats["received"] += 1
        try:
            change = _decode(payload, self.site.id)
        except ValueError as exc:
            self._stats["rejected"] += 1
            log.warning("%s: dropped incident message (%d so far): %s", self._name,
                        self._stats["rejected"], exc)
            return
        await self._queue(change_alerts(self.config, change))

    async def _poll(self) -> None:
        while True:
            try:
                incidents = await asyncio.to_thread(self.store.open_incidents, self.site.id)
            except Exception as exc:  # the store is shared: a locked or failing poll is retried
                self._stats["poll_errors"] += 1
                log.warning("%s: cannot read the incident store: %s", self._name, exc)
                incidents = []
            now = self._clock.now()
            for incident in incidents:
                if incident.state not in _UNACKED:
                    continue  # acknowledged (or shelved): escalation and reminders stop
                event = EventKind.RAISED if incident.count == 1 else EventKind.RETRIGGERED
                change = IncidentChange(incident, event).to_dict()
                await self._queue(
                    overdue_alerts(self.config, change, incident.last_triggered_at, now)
                )
            self._stats["polls"] += 1
            await self._clock.sleep(self.config.poll_seconds)

    # Outgoing: one worker per channel, so a dead webhook never delays the e-mail.

    async def _publish(self, topic: str, body: bytes, qos: int) -> None:
        client = self._client
        if client is None:
            raise DeliveryError("not connected to the broker")
        try:
            await mqtt.publish(client, topic, body, qos=qos)
        except aiomqtt.MqttError as exc:
            raise DeliveryError(str(exc)) from exc

    async def _deliver(self, channel: str, sender: Sender) -> None:
        retry = self.config.retry
        wake = self._wake[channel]
        failures = 0
        retry_at: float | None = None
        while True:
            wake.clear()  # before looking, so an alert queued meanwhile wakes us again
            backing_off = retry_at is not None and self._clock.monotonic() < retry_at
            pending = await asyncio.to_thread(self.outbox.next, channel, retries=not backing_off)
            if pending is None:
                wait = None if retry_at is None else max(retry_at - self._clock.monotonic(), 0)
                if retry_at is not None and not backing_off:
                    retry_at = None  # the backoff ended with nothing left to retry
                await self._wait(wake, wait)
                continue
            try:
                await sender.send(pending.alert.payload)
            except DeliveryError as exc:
                dead = await asyncio.to_thread(
                    self.outbox.mark_failed, pending.id, str(exc),
                    max_attempts=retry.max_attempts, now=self._clock.now(),
                )
                failures += 1
                self._stats["failed"] += 1
                if failures == 1:
                    log.warning("%s: channel %s failing, retrying with backoff: %s",
                                self._name, channel, exc)
                if dead:
                    self._stats["dead"] += 1
                    log.error("%s: gave up on alert %s after %d attempts: %s", self._name,
                              pending.alert.key, pending.attempts + 1, exc)
                delay = min(retry.initial_seconds * 2 ** (failures - 1), retry.max_seconds)
                retry_at = self._clock.monotonic() + delay * random.uniform(0.5, 1.0)
                continue
            await asyncio.to_thread(self.outbox.mark_sent, pending.id, self._clock.now())
            self._stats["sent"] += 1
            if failures:
                log.warning("%s: channel %s recovered after %d failed attempt(s)", self._name,
                            channel, failures)
            failures, retry_at = 0, None

    async def _wait(self, wake: asyncio.Event, seconds: float | None) -> None:
        """Until an alert is queued for the channel or `seconds` (on the clock) pass."""
        if seconds is None:
            await wake.wait()
            return
        waiter = asyncio.ensure_future(wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()


def _decode(payload: object, site: str) -> dict[str, Any]:
    """The incident change JSON, checked enough to route it; ValueError otherwise."""
    if isinstance(payload, str):
        payload = payload.encode()
    if not isinstance(payload, (bytes, bytearray)):
        raise ValueError("payload is not bytes")  # noqa: TRY004 - one error type for rejects
    if len(payload) > _MAX_PAYLOAD:
        raise ValueError(f"{len(payload)} bytes exceeds {_MAX_PAYLOAD}")
    try:
        change = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(change, dict) or change.get("event") not in {e.value for e in EventKind}:
        raise ValueError("not an incident change: no known 'event'")
    incident = change.get("incident")
    if not isinstance(incident, dict) or any(k not in incident for k in _REQUIRED):
        raise ValueError(f"incident lacks one of {', '.join(_REQUIRED)}")
    if incident["site"] != site:
        raise ValueError(f"incident of site {incident['site']!r}, not {site!r}")
    if not all(isinstance(incident[k], str) for k in ("rule", "subject", "severity", "state")):
        raise ValueError("incident rule, subject, severity or state is not text")
    # Only a provisional change (the store failed) may lack an id: it must say so.
    if change.get("stored", True) is not False and (
        isinstance(incident["id"], bool) or not isinstance(incident["id"], int)
    ):
        raise ValueError(f"stored incident with id {incident['id']!r}")
    return change
