"""The gateway process: one poller per device and one publisher, in one TaskGroup.

The gateway is read-only by design: it never writes to a device. Commanding fire equipment
from a monitoring gateway would need interlocks and an audit trail this component does not have.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from pymodbus.client import AsyncModbusTcpClient

from fireroom.clock import Clock, SystemClock
from fireroom.config import DeviceConfig, MqttConfig, Site
from gateway.drivers.modbus_tcp import ModbusTcpDriver, make_client
from gateway.planner import plan
from gateway.poller import DevicePoller
from gateway.publisher import Publisher, PublishStats
from gateway.stats import DeviceReport

__all__ = ["ClientFactory", "Gateway", "run_gateway"]

ClientFactory = Callable[[DeviceConfig], AsyncModbusTcpClient]


class Gateway:
    """Polls every device of a site and publishes normalized telemetry over MQTT.

    Args:
        site: the validated site; its resolved points are planned once here.
        mqtt: the broker to publish to.
        clock: time source for timestamps and the polling rhythm.
        gateway_id: MQTT client id and name in the gateway status topic; `gw-<site>` by default.
        client_factory: builds each device's pymodbus client (tests hand in their own).
        rng: source of reconnect jitter.
    """

    def __init__(
        self,
        site: Site,
        mqtt: MqttConfig,
        *,
        clock: Clock | None = None,
        gateway_id: str | None = None,
        client_factory: ClientFactory | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.site = site
        self.clock: Clock = clock or SystemClock()
        self.gateway_id = gateway_id or f"gw-{site.id}"
        factory = client_factory or make_client
        self.publisher = Publisher(
            site.id, mqtt, gateway_id=self.gateway_id, clock=self.clock, rng=rng
        )
        self.pollers: dict[str, DevicePoller] = {}
        for device in site.config.devices:
            requests = plan(
                site.points.get(device.id, []),
                max_registers=device.max_registers,
                max_bits=device.max_bits,
            )
            driver = ModbusTcpDriver(device, client=factory(device))
            self.pollers[device.id] = DevicePoller(
                device, requests, driver, self.publisher, clock=self.clock, rng=rng
            )

    async def run(self) -> None:
        """Poll and publish until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.publisher.run(), name=f"gateway[{self.gateway_id}].mqtt")
            count = len(self.pollers)
            for index, (device_id, poller) in enumerate(self.pollers.items()):
                delay = poller.device.poll_interval * index / count
                group.create_task(poller.run(delay), name=f"gateway[{device_id}].poll")

    def stats(self) -> dict[str, DeviceReport]:
        """Counters per device id: scans, requests, errors by kind, round trips, telemetry."""
        result: dict[str, DeviceReport] = {}
        for device_id, poller in self.pollers.items():
            published = self.publisher.stats.get(device_id, PublishStats())
            result[device_id] = poller.stats.report(
                state=poller.status.state if poller.status else "unknown",
                requests_per_scan=len(poller.requests),
                published=published.published,
                dropped=published.dropped,
            )
        return result


async def run_gateway(site: Site, mqtt: MqttConfig) -> None:
    """Run a site's gateway with the system clock until cancelled (the CLI's entry point)."""
    await Gateway(site, mqtt).run()
