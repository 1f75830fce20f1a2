"""The API's own broker connection: its heartbeat, its watch on the rules service and the
broker (GET /monitoring, /health, the console's banner), and the incidents topic, which wakes
the console's event streams.

It needs the site's id and MQTT settings (`fireroom api --config`); an API created without
them reports monitoring as unknown.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from typing import Any

import aiomqtt

from fireroom import heartbeat, mqtt, topics
from fireroom.clock import Clock, SystemClock
from fireroom.config import MonitoringConfig, MqttConfig
from services.api.changes import Changes
from services.notify.chain import ChainWatch

__all__ = ["UNKNOWN", "Monitor"]

log = logging.getLogger(__name__)

UNKNOWN: dict[str, Any] = {
    "status": "unknown",
    "message": "This API does not watch the monitoring chain (no site or MQTT configured)",
    "rules": None,
    "broker": None,
    "gateways": {},
}


class Monitor:
    """Args:
        site: the site's id.
        mqtt: its broker.
        monitoring: heartbeat interval and the window after which something is gone.
        changes: set when an incident change is published.
        clock: heartbeat times and the watch's silences.
    """

    def __init__(
        self,
        site: str,
        mqtt: MqttConfig,
        monitoring: MonitoringConfig,
        *,
        changes: Changes,
        clock: Clock | None = None,
        reconnect_max: float = 5.0,
    ) -> None:
        self.site = site
        self.mqtt = mqtt
        self.monitoring = monitoring
        self.changes = changes
        self._clock: Clock = clock or SystemClock()
        self._reconnect_max = reconnect_max
        self.chain = ChainWatch(self._clock, monitoring.gone_after_seconds)
        self._name = f"api[{site}].monitor"

    def status(self) -> dict[str, Any]:
        return self.chain.status()

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._session()
            except* aiomqtt.MqttError as group:
                why = str(group.exceptions[0])
                if self.chain.broker_ok():
                    log.error("%s: broker %s:%d lost (%s)", self._name, self.mqtt.host,
                              self.mqtt.port, why)
                self.chain.disconnected(why)
            else:
                self.chain.disconnected("connection closed")
            # Jitter spreads the reconnects of many sites after a broker restart.
            await self._clock.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._reconnect_max)

    async def _session(self) -> None:
        interval = self.monitoring.heartbeat_seconds
        client = mqtt.client(
            self.mqtt, f"fireroom-api-{self.site}-{secrets.token_hex(4)}",
            will=heartbeat.offline_will(self.site, "api", "api", interval),
        )
        incidents = topics.incidents(self.site)
        async with client, asyncio.TaskGroup() as group:
            await client.subscribe(incidents, qos=1)
            await client.subscribe(topics.heartbeat_filter(self.site), qos=1)
            self.chain.connected()
            group.create_task(
                heartbeat.beat(client, self.site, "api", "api", interval=interval,
                               clock=self._clock),
                name=f"{self._name}.heartbeat",
            )
            async for message in client.messages:
                if message.topic.matches(incidents):
                    # The store is the record: the message only says "read it now".
                    self.changes.notify()
                    continue
                try:
                    if not isinstance(message.payload, (bytes, bytearray)):
                        raise ValueError("payload is not bytes")  # noqa: TRY004, TRY301
                    self.chain.heard(heartbeat.decode(bytes(message.payload)))
                except ValueError as exc:
                    log.warning("%s: dropped heartbeat on %s: %s", self._name, message.topic,
                                exc)
