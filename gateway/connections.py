"""The gateway's connections to its devices: which driver reads which device.

Modbus TCP devices get a connection each. Devices on a Modbus RTU line share that line, and so
its one request at a time: the line is built when its first device's driver is, and its port
or connection opens with the first read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pymodbus.client import AsyncModbusTcpClient

from fireroom.config import DeviceConfig, RtuTransport, Site, TcpTransport
from gateway.drivers import Driver
from gateway.drivers.modbus_rtu import ModbusRtuDriver
from gateway.drivers.modbus_tcp import ModbusTcpDriver, make_client
from gateway.lines import LineReport, RtuLine
from gateway.metrics import Metric

__all__ = ["ClientFactory", "Connections", "line_metrics"]

ClientFactory = Callable[[DeviceConfig], AsyncModbusTcpClient]


class Connections:
    """Builds a driver for every polled device of a site, and the RTU lines they share.

    Args:
        site: the validated site.
        client_factory: builds each Modbus TCP device's pymodbus client (tests hand in their own).
    """

    def __init__(self, site: Site, *, client_factory: ClientFactory | None = None) -> None:
        self.site = site
        self.client_factory = client_factory or make_client
        self.lines: dict[str, RtuLine] = {}

    def polled(self, device: DeviceConfig) -> bool:
        """Whether the gateway polls this device (MQTT devices publish by themselves)."""
        return isinstance(device.transport, TcpTransport | RtuTransport)

    def driver(self, device: DeviceConfig) -> Driver:
        transport = device.transport
        if isinstance(transport, TcpTransport):
            return ModbusTcpDriver(device, client=self.client_factory(device))
        if isinstance(transport, RtuTransport):
            return ModbusRtuDriver(device, self.line(transport.line))
        raise ValueError(f"{device.id}: no driver for {transport.describe()}")

    def line(self, line_id: str) -> RtuLine:
        """The site's RTU line `line_id`, built on first use."""
        line = self.lines.get(line_id)
        if line is None:
            devices = [
                device for device in self.site.config.devices
                if isinstance(device.transport, RtuTransport) and device.transport.line == line_id
            ]
            line = self.lines[line_id] = RtuLine(self.site.config.line(line_id), devices)
        return line

    def stats(self) -> dict[str, LineReport]:
        """Counters per RTU line id: requests, errors by kind, round trips, busy time."""
        return {line_id: line.report() for line_id, line in self.lines.items()}

    def metrics(self) -> list[Metric]:
        """Metrics of shared connections: the RTU lines (TCP devices count as devices)."""
        return line_metrics(self.stats())

    def close(self) -> None:
        """Close every RTU line's port or connection; for the end of the gateway's run."""
        for line in self.lines.values():
            line.close()


def line_metrics(stats: Mapping[str, LineReport]) -> list[Metric]:
    """RTU line counters (`Connections.stats()`) as metric families."""
    requests = Metric("fireroom_line_requests_total", "counter", "Requests sent on the line.")
    errors = Metric("fireroom_line_errors_total", "counter", "Failed requests, by kind.")
    rtt = Metric("fireroom_line_rtt_seconds", "gauge",
                 "Round-trip time of recent answers on the line, by quantile.")
    busy = Metric("fireroom_line_busy_seconds_total", "counter",
                  "Time the line was in use: frame gaps, exchanges, waits after a timeout.")
    ratio = Metric("fireroom_line_busy_ratio", "gauge",
                   "Share of the time since the first request that the line was in use.")
    reconnects = Metric("fireroom_line_reconnects_total", "counter",
                        "Times the line's port or connection was opened again.")
    connected = Metric("fireroom_line_connected", "gauge",
                       "1 when the line's port or connection is open, else 0.")
    devices = Metric("fireroom_line_devices", "gauge", "Devices configured on the line.")
    for line, report in sorted(stats.items()):
        requests.add(report["requests"], line=line)
        for kind, count in sorted(report["errors"].items()):
            errors.add(count, line=line, kind=kind)
        rtt.add(report["rtt_p50"], line=line, quantile="0.5")
        rtt.add(report["rtt_p99"], line=line, quantile="0.99")
        busy.add(report["busy_seconds"], line=line)
        ratio.add(report["busy_ratio"], line=line)
        reconnects.add(report["reconnects"], line=line)
        connected.add(1 if report["connected"] else 0, line=line)
        devices.add(report["devices"], line=line)
    return [requests, errors, rtt, busy, ratio, reconnects, connected, devices]
