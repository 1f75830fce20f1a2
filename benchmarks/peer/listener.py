"""The broker side of the race: counts what each gateway delivers and plays ThingsBoard's part.

fireroom publishes `fireroom/v1/<site>/telemetry/<device>` (`readings`: name -> [value, quality,
...]) and the retained `fireroom/v1/<site>/status/<device>`. The TB gateway publishes
`v1/gateway/telemetry` (`{device: [{"ts", "values": {key: value}}]}`), `v1/gateway/connect`
and `v1/gateway/disconnect` (`{"device": name}`), and asks the server for its session limits
with an RPC on `v1/devices/me/rpc/request/<id>`; it sends no telemetry before the answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiomqtt
import orjson

from benchmarks.peer import thingsboard as tb
from fireroom import topics

__all__ = ["Listener", "Tally"]


@dataclass
class Tally:
    """What one gateway delivered, as seen on the broker; times are `time.monotonic()`."""

    points: int = 0  # readings with a value
    empty: int = 0  # readings without one (fireroom's `comm_lost`)
    messages: int = 0
    devices: set[str] = field(default_factory=set)  # devices that delivered at least one value
    lost: list[tuple[float, str]] = field(default_factory=list)  # reports that a device is lost
    back: list[tuple[float, str]] = field(default_factory=list)  # reports that it is back

    def first_lost(self, device: str, since: float) -> float | None:
        return next((at for at, name in self.lost if name == device and at >= since), None)

    def count_lost(self, device: str, since: float) -> int:
        return sum(1 for at, name in self.lost if name == device and at >= since)


class Listener:
    """Subscribes to both gateways' topics until the `async with` block ends.

    Args:
        port: the broker's port on 127.0.0.1.
        site: the fireroom site id.
    """

    def __init__(self, *, port: int, site: str) -> None:
        self.port = port
        self.site = site
        self.fireroom = Tally()
        self.peer = Tally()
        self.session_limit_calls = 0
        self._client = aiomqtt.Client(
            "127.0.0.1", port, identifier="fireroom-peer-bench", max_queued_incoming_messages=0
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        client = self._client
        await client.__aenter__()
        try:
            await client.subscribe(topics.telemetry_filter(self.site))
            await client.subscribe(topics.status(self.site, "+"), qos=1)
            await client.subscribe(tb.TELEMETRY_TOPIC)
            await client.subscribe(tb.CONNECT_TOPIC, qos=1)
            await client.subscribe(tb.DISCONNECT_TOPIC, qos=1)
            await client.subscribe(tb.RPC_REQUEST_FILTER, qos=1)
        except BaseException as exc:
            await client.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._task = asyncio.create_task(self._serve(), name="peer-bench.listener")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._client.__aexit__(exc_type, exc, traceback)

    def check(self) -> None:
        """Raise the listener's own failure, if it stopped."""
        task = self._task
        if task is not None and task.done() and not task.cancelled():
            task.result()

    async def _serve(self) -> None:
        telemetry = topics.telemetry_filter(self.site)
        status = topics.status(self.site, "+")
        async for message in self._client.messages:
            payload = message.payload
            if not isinstance(payload, bytes):
                continue
            now = time.monotonic()
            topic = message.topic
            if topic.matches(telemetry):
                self._fireroom_scan(orjson.loads(payload))
            elif topic.matches(tb.TELEMETRY_TOPIC):
                self._peer_telemetry(orjson.loads(payload))
            elif topic.matches(status):
                device = topic.value.rsplit("/", 1)[1]
                state = orjson.loads(payload).get("state")
                (self.fireroom.lost if state == "offline" else self.fireroom.back).append(
                    (now, device)
                )
            elif topic.matches(tb.DISCONNECT_TOPIC):
                self.peer.lost.append((now, str(orjson.loads(payload).get("device"))))
            elif topic.matches(tb.CONNECT_TOPIC):
                self.peer.back.append((now, str(orjson.loads(payload).get("device"))))
            elif topic.matches(tb.RPC_REQUEST_FILTER):
                await self._answer_rpc(topic.value.rsplit("/", 1)[1], orjson.loads(payload))

    def _fireroom_scan(self, scan: dict[str, Any]) -> None:
        tally = self.fireroom
        tally.messages += 1
        readings = scan["readings"].values()
        valued = sum(1 for reading in readings if reading[0] is not None)
        tally.points += valued
        tally.empty += len(readings) - valued
        if valued:
            tally.devices.add(scan["device"])

    def _peer_telemetry(self, message: dict[str, Any]) -> None:
        tally = self.peer
        tally.messages += 1
        for device, entries in message.items():
            for entry in entries if isinstance(entries, list) else [entries]:
                values = entry.get("values", entry) if isinstance(entry, dict) else {}
                tally.points += len(values)
                if values:
                    tally.devices.add(device)

    async def _answer_rpc(self, request_id: str, request: dict[str, Any]) -> None:
        if request.get("method") != "getSessionLimits":
            return
        self.session_limit_calls += 1
        await self._client.publish(
            tb.RPC_RESPONSE_PREFIX + request_id, orjson.dumps(tb.SESSION_LIMITS), qos=1
        )
