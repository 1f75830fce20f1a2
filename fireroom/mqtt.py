"""The MQTT client every fireroom process opens, built from the site's `mqtt:` settings."""

from __future__ import annotations

from typing import Any

import aiomqtt

from fireroom.config import MqttConfig

__all__ = ["client"]


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
