"""The ThingsBoard IoT Gateway's configuration for a fireroom site, and the broker side of it.

One TB device per fireroom device, reading the same registers with the same types: runs of
one-register points of one type become one wide-range entry (`"address": "100-599"`, keys
`hr100_<address>`), read in requests of up to the device's `max_registers`, as fireroom's planner
does; every other point is its own entry, named as in fireroom.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fireroom.codec import DataType, WordOrder
from fireroom.config import Site
from fireroom.points import PointSpec, Table

__all__ = [
    "ACCESS_TOKEN",
    "CONNECT_TOPIC",
    "DISCONNECT_TOPIC",
    "RPC_REQUEST_FILTER",
    "RPC_RESPONSE_PREFIX",
    "SESSION_LIMITS",
    "TELEMETRY_TOPIC",
    "connector_config",
    "gateway_config",
    "logs_config",
    "timeseries",
    "write_config",
]

ACCESS_TOKEN = "fireroom-bench"  # the MQTT username TB connects with; Mosquitto takes anyone
TELEMETRY_TOPIC = "v1/gateway/telemetry"
CONNECT_TOPIC = "v1/gateway/connect"
DISCONNECT_TOPIC = "v1/gateway/disconnect"
RPC_REQUEST_FILTER = "v1/devices/me/rpc/request/+"
RPC_RESPONSE_PREFIX = "v1/devices/me/rpc/response/"
MAX_PAYLOAD_BYTES = 1024 * 1024
# What a ThingsBoard server answers to the gateway's `getSessionLimits` call: no rate limits.
SESSION_LIMITS: dict[str, Any] = {
    "rateLimits": {},
    "gatewayRateLimits": {},
    "maxPayloadSize": MAX_PAYLOAD_BYTES,
    "maxInflightMessages": 10000,
}
_NO_LIMIT = "0:0,"
_TYPES = {
    DataType.U16: "16uint",
    DataType.I16: "16int",
    DataType.U32: "32uint",
    DataType.I32: "32int",
    DataType.F32: "32float",
}
_FUNCTION_CODES = {Table.HOLDING: 3, Table.INPUT: 4}
_PREFIXES = {Table.HOLDING: "hr", Table.INPUT: "ir"}
# fireroom's word order of a two-register value -> TB's per-device byte and word order.
_ORDERS = {
    WordOrder.ABCD: ("BIG", "BIG"),
    WordOrder.CDAB: ("BIG", "LITTLE"),
    WordOrder.BADC: ("LITTLE", "BIG"),
    WordOrder.DCBA: ("LITTLE", "LITTLE"),
}


def _entry(run: list[PointSpec], max_registers: int) -> dict[str, Any]:
    first = run[0]
    entry: dict[str, Any] = {
        "type": _TYPES[first.type],
        "functionCode": _FUNCTION_CODES[first.table],
        "objectsCount": first.count,
    }
    if len(run) == 1:
        return {"tag": first.name, **entry, "address": first.address}
    last = run[-1].address
    # TB files each read's answer under its tag: two entries with one tag would mix their values.
    return {
        "tag": f"{_PREFIXES[first.table]}{first.address}_${{address}}",
        **entry,
        "address": f"{first.address}-{last}",
        "maxRegistersPerRequest": max_registers,
    }


def timeseries(points: list[PointSpec], max_registers: int) -> list[dict[str, Any]]:
    """TB timeseries entries reading every point's registers."""
    for point in points:
        if point.table not in _FUNCTION_CODES or point.type not in _TYPES:
            raise ValueError(
                f"point {point.name!r}: {point.table.value} {point.type.value} has no TB mapping"
            )
    ordered = sorted(points, key=lambda p: (p.table.value, p.address))
    entries: list[dict[str, Any]] = []
    run: list[PointSpec] = []
    for point in ordered:
        if (
            run
            and point.count == 1
            and run[-1].count == 1
            and point.table is run[-1].table
            and point.type is run[-1].type
            and point.address == run[-1].address + 1
        ):
            run.append(point)
            continue
        if run:
            entries.append(_entry(run, max_registers))
        run = [point]
    if run:
        entries.append(_entry(run, max_registers))
    return entries


def _orders(points: list[PointSpec]) -> tuple[str, str]:
    wide = {p.word_order for p in points if p.count > 1}
    if len(wide) > 1:
        # TB has one byte and word order per device.
        raise ValueError(f"points with different word orders: {sorted(wide)}")
    return _ORDERS[wide.pop()] if wide else _ORDERS[WordOrder.ABCD]


def connector_config(site: Site) -> dict[str, Any]:
    """The Modbus connector: one slave per device, same poll period and timeout, no retries."""
    slaves = []
    for device in site.config.devices:
        transport = device.transport
        if transport.type != "tcp":
            raise ValueError(f"device {device.id!r}: only Modbus TCP devices race")
        points = site.points[device.id]
        byte_order, word_order = _orders(points)
        slaves.append(
            {
                "host": transport.host,
                "port": transport.port,
                "type": "tcp",
                "method": "socket",
                "unitId": device.unit_id,
                "deviceName": device.id,
                "deviceType": device.profile,
                "timeout": device.timeout,
                # fireroom gives up a scan at its first timeout; TB would retry 3 times.
                "retries": 0,
                "byteOrder": byte_order,
                "wordOrder": word_order,
                "pollPeriod": round(device.poll_interval * 1000),
                "timeseries": timeseries(points, device.max_registers),
                "attributes": [],
                "attributeUpdates": [],
                "rpc": [],
            }
        )
    return {
        "name": "bench",
        "logLevel": "INFO",
        "master": {"slaves": slaves},
    }


def gateway_config(port: int, connector_file: str) -> dict[str, Any]:
    """`tb_gateway.json`: plain MQTT to the test broker, nothing remote, no rate limits."""
    return {
        "thingsboard": {
            "host": "127.0.0.1",
            "port": port,
            "remoteShell": False,
            "remoteConfiguration": False,
            "latencyDebugMode": False,
            "statistics": {"enable": False, "statsSendPeriodInSeconds": 3600},
            "deviceFiltering": {"enable": False},
            "maxPayloadSizeBytes": MAX_PAYLOAD_BYTES,
            "minPackSendDelayMS": 50,
            "minPackSizeToSend": 500,
            "checkConnectorsConfigurationInSeconds": 3600,
            "handleDeviceRenaming": False,
            "security": {"type": "accessToken", "accessToken": ACCESS_TOKEN},
            # fireroom's telemetry goes at QoS 0 too.
            "qos": 0,
            # Every polled value is sent on every poll, as fireroom does.
            "reportStrategy": {"type": "ON_RECEIVED"},
            "checkingDeviceActivity": {"checkDeviceInactivity": False},
            "rateLimits": _NO_LIMIT,
            "dpRateLimits": _NO_LIMIT,
            "messagesRateLimits": _NO_LIMIT,
            "deviceMessagesRateLimits": _NO_LIMIT,
            "deviceRateLimits": _NO_LIMIT,
            "deviceDpRateLimits": _NO_LIMIT,
        },
        "storage": {"type": "memory", "read_records_count": 100, "max_records_count": 100000},
        "grpc": {"enabled": False},
        "connectors": [{"type": "modbus", "name": "bench", "configuration": connector_file}],
    }


def logs_config(log_file: Path) -> dict[str, Any]:
    """`logs.json`: INFO to one file; pymodbus only from ERROR up.

    pymodbus 3.9.2, the version TB pins, logs a three-line deprecation warning each time TB's
    converter builds a BinaryPayloadDecoder, i.e. for every register value it decodes.
    """
    loggers = ("service", "connector", "converter", "tb_connection", "storage", "extension")
    handler = {"handlers": ["file"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "plain",
                "filename": str(log_file),
            },
        },
        "loggers": {
            **{name: {**handler, "level": "INFO"} for name in loggers},
            "pymodbus": {**handler, "level": "ERROR"},
        },
        "root": {"handlers": ["file"], "level": "WARNING"},
    }


def write_config(site: Site, directory: Path, broker_port: int, log_file: Path) -> Path:
    """Write TB's config files into `directory` and return it (TB_GW_CONFIG_DIR)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "modbus.json": connector_config(site),
        "tb_gateway.json": gateway_config(broker_port, "modbus.json"),
        "logs.json": logs_config(log_file),
    }
    for name, content in files.items():
        (directory / name).write_text(json.dumps(content, indent=2), encoding="utf-8")
    return directory
