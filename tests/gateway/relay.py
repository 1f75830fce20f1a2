"""A broker port that opens and closes when a test says: a TCP relay in front of Mosquitto.

The gateway connects to the relay's port; a test's subscriber connects to Mosquitto directly,
so it is listening before the gateway first gets through, and stays connected while the
gateway's connection is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.servers import Broker, listen_ports

__all__ = ["Relay", "relay"]


class Relay:
    """Forwards `port` to `target` while open; closed, the port refuses connections."""

    def __init__(self, target: Broker) -> None:
        self.target = target
        self.port = listen_ports(1)[0]
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def close(self) -> None:
        """Stop listening and cut every relayed connection."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._pipes):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
        self._server = None
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.target.host, self.target.port)
        self._writers |= {writer, up_writer}
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(_pipe(reader, up_writer))
                group.create_task(_pipe(up_reader, writer))
        finally:
            self._pipes.discard(task)
            writer.close()
            up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def relay(target: Broker) -> AsyncIterator[Relay]:
    """A closed relay to `target`; `open()` it when the broker should appear."""
    r = Relay(target)
    try:
        yield r
    finally:
        await r.close()
