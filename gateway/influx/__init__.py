"""Telemetry to InfluxDB: readings as line protocol, kept on disk until InfluxDB has them.

    InfluxSink (a ScanSink) ─▶ BufferedWriter ─▶ DiskBuffer (SQLite) ─▶ Transport (v1 or v2)

`InfluxSettings.resolve()` reads the connection from options and the environment; the v2
transport (`gateway.influx.v2`, influxdb-client) is imported only when it is used.
"""

from gateway.influx.buffer import Batch, BufferCounts, DiskBuffer, Dropped
from gateway.influx.settings import ENVIRONMENT, InfluxSettings
from gateway.influx.sink import InfluxSink, point_kind
from gateway.influx.transport import Transport, V1Transport, error_for_status
from gateway.influx.writer import BufferedWriter, WriterStats, compress, decompress

__all__ = [
    "ENVIRONMENT",
    "Batch",
    "BufferCounts",
    "BufferedWriter",
    "DiskBuffer",
    "Dropped",
    "InfluxSettings",
    "InfluxSink",
    "Transport",
    "V1Transport",
    "WriterStats",
    "compress",
    "decompress",
    "error_for_status",
    "point_kind",
]
