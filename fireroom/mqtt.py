"""The MQTT client every fireroom process opens, built from the site's `mqtt:` settings."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt

from fireroom.config import MqttConfig

__all__ = ["client", "publish"]


def client(config: MqttConfig, identifier: str, **options: Any) -> aiomqtt.Client:
    """An aiomqtt client for `config`; `options` go to aiomqtt (a last will, timeouts)."""
    return aiomqtt.Client(
        config.host,
        config.port,
        username=config.username,
        password=config.password,
        keepalive=config.keepalive,
        identifier=identifier,
        **options,
    )


async def publish(
    client: aiomqtt.Client, topic: str, payload: bytes, qos: int = 0, retain: bool = False
) -> None:
    """Publish, and honour a cancellation that arrived meanwhile.

    aiomqtt waits for the broker with Python 3.11's `asyncio.wait_for`, which swallows a
    cancellation that arrives just as the wait completes; a loop that publishes steadily would
    then never stop, and the process never shut down.
    """
    task = asyncio.current_task()
    # Compare with the count before: a task can carry an old request that was already handled.
    before = task.cancelling() if task is not None else 0
    await client.publish(topic, payload, qos=qos, retain=retain)
    if task is not None and task.cancelling() > before:
        raise asyncio.CancelledError
