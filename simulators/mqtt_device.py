"""A simulated MQTT-native device: publishes a simulated device's points as its own JSON.

The JSON holds what the registers would hold (status words as integers, readings before
scale), each at its point's `path`, so the gateway decodes it with the device's own config:

    {"status": {"system": 3}, "points": [{"status": 2}, {"status": 1}]}

Faults for tests and scenarios: `silence()` stops publishing, `garble(payload)` sends that
payload instead of the state, `resume()` returns to normal; `publish()` sends one message now.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import aiomqtt
import orjson

from fireroom import mqtt
from fireroom.clock import Clock, SystemClock
from fireroom.config import DeviceConfig, MqttConfig, MqttTransport
from fireroom.jsonpath import JsonPath, parse_path
from fireroom.points import PointSpec, Table
from fireroom.profiles import Profile
from simulators.devices import SimulatedDevice
from simulators.errors import SimulatorError

__all__ = ["MqttDeviceSimulator", "json_document", "json_image"]

log = logging.getLogger("fireroom.simulators")

_RECONNECT_DELAY = 0.2  # s; a simulator retries briskly, it has no neighbours to spare


def json_image(
    config: DeviceConfig, profile: Profile, points: Sequence[PointSpec]
) -> SimulatedDevice:
    """A simulated device for an MQTT device's points, each on registers of its own.

    JSON points have no registers: the config gives the ones that name no profile point
    address 0, so they are laid end to end here to keep them apart in the image.
    """
    next_free = dict.fromkeys(Table, 0)
    laid_out = []
    for point in points:
        laid_out.append(point.model_copy(update={"address": next_free[point.table]}))
        next_free[point.table] += point.count
    return SimulatedDevice(config, profile, laid_out)


def json_document(device: SimulatedDevice) -> dict[str, Any]:
    """The device's points, each raw value placed at its point's path."""
    document: dict[str, Any] = {}
    for name, spec in device.points.items():
        if spec.path is None:
            raise SimulatorError(f"{device.id}/{name} has no JSON path")
        _place(document, parse_path(spec.path), device.get_raw(name), f"{device.id}/{name}")
    return document


def _place(document: dict[str, Any], path: JsonPath, value: object, where: str) -> None:
    container: Any = document
    for part, following in itertools.pairwise(path.parts):
        empty: Any = [] if isinstance(following, int) else {}
        container = _slot(container, part, empty, where)
        if not isinstance(container, type(empty)):
            raise SimulatorError(f"{where}: {path} runs into another point's value")
    last = path.parts[-1]
    if _slot(container, last, None, where) is not None:
        raise SimulatorError(f"{where}: {path} is another point's place")
    container[last] = value


def _slot(container: Any, part: str | int, empty: Any, where: str) -> Any:
    if isinstance(part, int):
        if not isinstance(container, list):
            raise SimulatorError(f"{where}: [{part}] indexes an object")
        container.extend([None] * (part + 1 - len(container)))
        if container[part] is None:
            container[part] = empty
        return container[part]
    if not isinstance(container, dict):
        raise SimulatorError(f"{where}: .{part} keys into an array")
    return container.setdefault(part, empty)


def _stop_if_cancelled(task: asyncio.Task[Any] | None, before: int) -> None:
    # Python 3.11's asyncio.wait_for (inside aiomqtt's connect) can swallow a cancellation
    # that arrives as the broker answers; without this check a stopped simulator would go on
    # publishing and its owner would wait for it forever. (`fireroom.mqtt.publish` does the
    # same for publishing.) Only a request made since `before` counts: older ones were handled.
    if task is not None and task.cancelling() > before:
        raise asyncio.CancelledError


def _topic(device: SimulatedDevice) -> str:
    transport = device.config.transport
    if not isinstance(transport, MqttTransport):
        raise SimulatorError(f"{device.id} is not an MQTT device: give a topic")
    # A filter names many topics; publish on one of them.
    levels = ["state" if level == "#" else level for level in transport.topic.split("/")]
    return "/".join(device.id if level == "+" else level for level in levels)


class MqttDeviceSimulator:
    """Publishes a simulated device's state to a broker every interval, until the context ends.

    Args:
        device: the simulated device whose points are published; build it with `json_image`.
        broker: where to publish; the device's own `broker:` override is not looked at.
        topic: the topic to publish on; by default the device's filter with `+` replaced by
            its id and `#` by `state`.
        interval: seconds between messages; the device's `poll_interval` by default.
        qos: of the messages; retain is never set (a real device's live state is not retained).
        clock: paces the messages.
    """

    def __init__(
        self,
        device: SimulatedDevice,
        broker: MqttConfig,
        *,
        topic: str | None = None,
        interval: float | None = None,
        qos: int = 1,
        clock: Clock | None = None,
    ) -> None:
        self.device = device
        self.broker = broker
        self.topic = topic or _topic(device)
        self.interval = interval or device.config.poll_interval
        self.qos = qos
        self.clock: Clock = clock or SystemClock()
        self.client_id = f"sim-{device.id}-{secrets.token_hex(3)}"
        self.published = 0
        self.silent = False
        self.garbage: bytes | None = None
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    def silence(self) -> None:
        """Stop publishing, as a device that lost power or its network would."""
        self.silent = True

    def garble(self, payload: bytes) -> None:
        """Publish `payload` instead of the state every interval."""
        self.garbage = payload

    def resume(self) -> None:
        self.silent = False
        self.garbage = None

    def payload(self) -> bytes:
        """What the next periodic message carries."""
        if self.garbage is not None:
            return self.garbage
        return orjson.dumps(json_document(self.device))

    async def publish(self, payload: bytes | None = None) -> None:
        """Publish one message now, silenced or not: the state, or `payload` as given."""
        await self.connected.wait()
        assert self._client is not None  # set with `connected`
        await self._client.publish(self.topic, self.payload() if payload is None else payload,
                                   self.qos)
        self.published += 1

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self.run(), name=f"simulator[{self.device.id}].mqtt")
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
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Publish until cancelled, reconnecting as needed; `async with` runs it in a task."""
        task = asyncio.current_task()
        while True:
            before = task.cancelling() if task is not None else 0
            try:
                async with mqtt.client(self.broker, self.client_id, timeout=5) as client:
                    _stop_if_cancelled(task, before)
                    self._client = client
                    self.connected.set()
                    while True:
                        if not self.silent:
                            await mqtt.publish(client, self.topic, self.payload(), self.qos)
                            self.published += 1
                        await self.clock.sleep(self.interval)
            except aiomqtt.MqttError as exc:
                log.debug("%s: broker %s:%s: %s", self.device.id, self.broker.host,
                          self.broker.port, exc)
            finally:
                self.connected.clear()
                self._client = None
            await self.clock.sleep(_RECONNECT_DELAY)
