"""The gateway process: one poller per device and one publisher, in one TaskGroup.

The gateway is read-only by design: it never writes to a device. Commanding fire equipment
from a monitoring gateway would need interlocks and an audit trail this component does not have.
"""

from __future__ import annotations

import asyncio
import gc
import random
from typing import Protocol

from fireroom.clock import Clock, SystemClock
from fireroom.config import MqttConfig, Site
from fireroom.errors import ConfigError, ConfigProblem
from gateway.connections import ClientFactory, Connections
from gateway.failsafe import alarm_bearing, retry_policy
from gateway.fast_lane import FastLane, plan_fast_lane
from gateway.metrics import Metric, MetricsServer, device_metrics
from gateway.mqtt_devices import MqttDevices
from gateway.planner import plan_device
from gateway.poller import DevicePoller, DeviceStatus, Scan, ScanSink
from gateway.publisher import Publisher, PublishStats
from gateway.report import ExceptionReporter, ReportingSink
from gateway.snapshots import SnapshotRequests
from gateway.stats import DeviceReport

__all__ = ["BackgroundSink", "ClientFactory", "Gateway", "run_gateway"]

class BackgroundSink(ScanSink, Protocol):
    """A second destination of scans with tasks of its own (the InfluxDB sink)."""

    async def run(self) -> None: ...

    def metrics(self) -> list[Metric]: ...


class _Fanout:
    """Hands every scan and status to each sink in turn; none of them may block."""

    def __init__(self, *sinks: ScanSink) -> None:
        self._sinks = sinks

    def scan(self, scan: Scan) -> None:
        for sink in self._sinks:
            sink.scan(scan)

    def status(self, device: str, status: DeviceStatus) -> None:
        for sink in self._sinks:
            sink.status(device, status)


class Gateway:
    """Polls every device of a site and publishes normalized telemetry over MQTT.

    Args:
        site: the validated site; its resolved points are planned once here.
        mqtt: the broker to publish to.
        clock: time source for timestamps and the polling rhythm.
        gateway_id: MQTT client id and name in the gateway status topic; `gw-<site>` by default.
        client_factory: builds each device's pymodbus client (tests hand in their own).
        rng: source of reconnect jitter.
        sink: also receives every scan, besides MQTT (`gateway.influx.InfluxSink`); run here.
        metrics_port: serve Prometheus `/metrics` (device stats, the sink's) on this port.
        metrics_host: the address the metrics endpoint binds.
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
        sink: BackgroundSink | None = None,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
    ) -> None:
        self.site = site
        self.clock: Clock = clock or SystemClock()
        self.gateway_id = gateway_id or f"gw-{site.id}"
        self.connections = Connections(site, client_factory=client_factory)
        devices = site.config.devices
        # Report by exception thins what goes to MQTT; InfluxDB keeps every reading.
        self.reporters = {
            device.id: ExceptionReporter(device.report, site.points.get(device.id, []), self.clock)
            for device in devices
            if device.report.by_exception
        }
        self.snapshots = SnapshotRequests(
            [device.id for device in devices], self.reporters, self.clock
        )
        self.publisher = Publisher(
            site.id, mqtt, gateway_id=self.gateway_id, clock=self.clock, rng=rng,
            reliable=[d.id for d in devices if alarm_bearing(site.points.get(d.id, []))],
            snapshots=self.snapshots,
            heartbeat_seconds=site.config.monitoring.heartbeat_seconds,
        )
        self.sink = sink
        published: ScanSink = self.publisher
        if self.reporters:
            published = ReportingSink(
                self.publisher, self.reporters, lambda: self.publisher.connections,
                self.snapshots,
            )
        target: ScanSink = published if sink is None else _Fanout(published, sink)
        self.metrics: MetricsServer | None = None
        if metrics_port is not None:
            self.metrics = MetricsServer(
                metrics_port, host=metrics_host, collectors=[lambda: device_metrics(self.stats())]
            )
            self.metrics.add(self.connections.metrics)
            if sink is not None:
                self.metrics.add(sink.metrics)
        self.pollers: dict[str, DevicePoller] = {}
        for index, device in enumerate(devices):
            if not self.connections.polled(device):
                if device.fast_lane is not None:
                    raise ConfigError(site.source, [ConfigProblem(
                        f"devices[{index}].fast_lane",
                        "a device that publishes its own JSON is heard, not polled: no fast lane",
                    )])
                continue
            requests = plan_device(site, device)
            lane = None
            if device.fast_lane is not None:
                lane = FastLane(plan_fast_lane(site, device, index), device.fast_lane.interval)
            driver = self.connections.driver(device)
            self.pollers[device.id] = DevicePoller(
                device, requests, driver, target, clock=self.clock, rng=rng,
                policy=retry_policy(site, device), fast_lane=lane,
            )
        # Devices that publish their own JSON are heard, not polled.
        self.mqtt_devices = MqttDevices(
            site, mqtt, target, gateway_id=self.gateway_id, clock=self.clock, rng=rng
        )

    async def run(self) -> None:
        """Poll and publish until cancelled."""
        # The site's config and plans are hundreds of thousands of long-lived objects; left to
        # the collector, every full collection walks them all (~160 ms on a 20,000-point site)
        # and scans run late. They live as long as the gateway: take them out of collection.
        gc.collect()
        gc.freeze()
        try:
            await self._run()
        finally:
            gc.unfreeze()
            # Lines close when their last poller lets go; this is for a gateway that failed.
            self.connections.close()

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.publisher.run(), name=f"gateway[{self.gateway_id}].mqtt")
            if self.sink is not None:
                group.create_task(self.sink.run(), name=f"gateway[{self.gateway_id}].influx")
            if self.metrics is not None:
                group.create_task(
                    self.metrics.serve(), name=f"gateway[{self.gateway_id}].metrics"
                )
            if self.mqtt_devices.devices:
                group.create_task(
                    self.mqtt_devices.run(), name=f"gateway[{self.gateway_id}].devices"
                )
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
        for device_id, device in self.mqtt_devices.devices.items():
            published = self.publisher.stats.get(device_id, PublishStats())
            result[device_id] = device.report(
                published=published.published, dropped=published.dropped
            )
        return result


async def run_gateway(site: Site, mqtt: MqttConfig) -> None:
    """Run a site's gateway with the system clock until cancelled (the CLI's entry point)."""
    await Gateway(site, mqtt).run()
