"""A loopback webhook receiver for the benchmarks: every JSON body it is sent, as it arrives."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["WebhookReceiver"]

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}"


class WebhookReceiver:
    """Answers 200 to every POST and hands each JSON object body to `received`."""

    def __init__(self, received: Callable[[dict[str, Any]], None]) -> None:
        self._received = received
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def serve(self, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)

    async def close(self) -> None:
        """Stop listening and hang up on kept-alive connections, so their handlers end."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        await asyncio.sleep(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ValueError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                with contextlib.suppress(orjson.JSONDecodeError):
                    document = orjson.loads(body)
                    if isinstance(document, dict):
                        self._received(document)
                writer.write(_OK)
                await writer.drain()
        self._writers.discard(writer)
        writer.close()
