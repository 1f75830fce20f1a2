"""An MQTT proxy that can drop telemetry on its way from the broker to one client.

The rules service connects through it; while `dropping` is set, a share of the PUBLISH packets
on telemetry topics never reach it. A dropped QoS 1 message is acknowledged to the broker by the
proxy, as a client that received and lost it would be, so the broker's in-flight window stays
open: what is tested is the rules service noticing the gap, not a stalled broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
from types import TracebackType
from typing import Self

__all__ = ["MqttDropProxy"]

_PUBLISH = 3


async def _packet(reader: asyncio.StreamReader) -> bytes:
    """One whole MQTT control packet: fixed header, remaining length, body."""
    first = await reader.readexactly(1)
    length, shift, header = 0, 0, bytearray(first)
    while True:
        byte = (await reader.readexactly(1))[0]
        header.append(byte)
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 21:
            raise ValueError("malformed remaining length")
    return bytes(header) + await reader.readexactly(length)


def _body_start(packet: bytes) -> int:
    index = 1
    while packet[index] & 0x80:
        index += 1
    return index + 1


class MqttDropProxy:
    """Relays MQTT between clients and a broker; drops telemetry while told to."""

    def __init__(self, *, upstream_port: int, port: int, seed: int = 0) -> None:
        self.upstream_port = upstream_port
        self.port = port
        self.dropping = 0.0  # share of telemetry PUBLISH packets dropped, 0..1
        self.dropped = 0
        self.relayed = 0
        self._rng = random.Random(seed)  # fault injection, not cryptography
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._relay(reader, writer), name="mqtt-drop.connection")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        lock = asyncio.Lock()  # both directions write whole packets to the broker
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._to_broker(reader, up_writer, lock))
                group.create_task(self._to_client(up_reader, writer, up_writer, lock))
        except* (asyncio.IncompleteReadError, OSError, ValueError):
            pass
        finally:
            up_writer.close()
            writer.close()

    async def _to_broker(
        self, reader: asyncio.StreamReader, up: asyncio.StreamWriter, lock: asyncio.Lock
    ) -> None:
        while True:
            packet = await _packet(reader)
            async with lock:
                up.write(packet)
                await up.drain()

    async def _to_client(
        self,
        up_reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up: asyncio.StreamWriter,
        lock: asyncio.Lock,
    ) -> None:
        while True:
            packet = await _packet(up_reader)
            if packet[0] >> 4 == _PUBLISH and self.dropping > 0:
                qos = (packet[0] >> 1) & 0x03
                start = _body_start(packet)
                (topic_length,) = struct.unpack_from(">H", packet, start)
                topic = packet[start + 2 : start + 2 + topic_length]
                if b"/telemetry/" in topic and self._rng.random() < self.dropping:
                    self.dropped += 1
                    if qos == 1:
                        (packet_id,) = struct.unpack_from(">H", packet, start + 2 + topic_length)
                        async with lock:
                            up.write(bytes([0x40, 0x02]) + struct.pack(">H", packet_id))
                            await up.drain()
                    continue
            self.relayed += 1
            writer.write(packet)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
