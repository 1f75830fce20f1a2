"""The gateway's connections to its devices: which driver reads which device.

Modbus TCP devices get a connection each. Devices on a Modbus RTU line share that line, and so
its one request at a time.
"""

from __future__ import annotations

from collections.abc import Callable

from pymodbus.client import AsyncModbusTcpClient

from fireroom.config import DeviceConfig, Site, TcpTransport
from gateway.drivers import Driver
from gateway.drivers.modbus_tcp import ModbusTcpDriver, make_client
from gateway.metrics import Metric

__all__ = ["ClientFactory", "Connections"]

ClientFactory = Callable[[DeviceConfig], AsyncModbusTcpClient]


class Connections:
    """Builds a driver for every polled device of a site.

    Args:
        site: the validated site.
        client_factory: builds each Modbus TCP device's pymodbus client (tests hand in their own).
    """

    def __init__(self, site: Site, *, client_factory: ClientFactory | None = None) -> None:
        self.site = site
        self.client_factory = client_factory or make_client

    def polled(self, device: DeviceConfig) -> bool:
        """Whether the gateway polls this device (MQTT devices publish by themselves)."""
        return isinstance(device.transport, TcpTransport)

    def driver(self, device: DeviceConfig) -> Driver:
        if isinstance(device.transport, TcpTransport):
            return ModbusTcpDriver(device, client=self.client_factory(device))
        raise ValueError(f"{device.id}: no driver for {device.transport.describe()}")

    def metrics(self) -> list[Metric]:
        """Metrics of shared connections (none for TCP devices, each counted as a device)."""
        return []
