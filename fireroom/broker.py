"""The embedded MQTT broker of `fireroom demo` (amqtt, in-process).

Production sites use Mosquitto or a broker cluster; the embedded one spares a first-time user
from installing anything.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from amqtt.broker import Broker

__all__ = ["embedded_broker"]

log = logging.getLogger("fireroom.broker")


@asynccontextmanager
async def embedded_broker(host: str = "127.0.0.1", port: int = 18830) -> AsyncIterator[None]:
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 64}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    # amqtt logs every connection at INFO; keep the demo's output about fire safety.
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    broker = Broker(config)
    try:
        await broker.start()
    except Exception as exc:
        raise OSError(f"cannot start the embedded MQTT broker on {host}:{port}: {exc}") from exc
    log.info("embedded MQTT broker listening on %s:%d", host, port)
    try:
        yield
    finally:
        await broker.shutdown()
