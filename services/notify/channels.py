"""Delivery to each kind of channel; every failure becomes a `DeliveryError`."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx
import orjson

from fireroom.clock import Clock
from fireroom.errors import FireroomError
from fireroom.notify_config import (
    ChannelConfig,
    DingTalkChannel,
    FeishuChannel,
    MqttChannel,
    SlackChannel,
    SmtpChannel,
    WebhookChannel,
    WeComChannel,
)
from services.notify import formats

__all__ = ["DeliveryError", "Publish", "Sender", "make_sender"]

Publish = Callable[[str, bytes, int], Awaitable[None]]


class DeliveryError(FireroomError):
    """An alert could not be delivered this time; the outbox keeps it for a retry."""


class Sender(Protocol):
    async def send(self, payload: dict[str, Any]) -> None: ...


class _HttpSender:
    """POSTs JSON; chat apps answer 200 with an error code in the body, which counts too."""

    def __init__(self, channel: ChannelConfig, client: httpx.AsyncClient, clock: Clock) -> None:
        self.channel = channel
        self._client = client
        self._clock = clock

    def _request(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, str]]:
        channel = self.channel
        now = self._clock.now()
        match channel:
            case WebhookChannel():
                return channel.url, formats.webhook_body(payload), channel.headers
            case WeComChannel():
                return channel.url, formats.wecom_body(payload), {}
            case DingTalkChannel():
                url = formats.dingtalk_url(channel.url, channel.secret, int(now * 1000))
                return url, formats.dingtalk_body(payload), {}
            case FeishuChannel():
                return channel.url, formats.feishu_body(payload, channel.secret, int(now)), {}
            case SlackChannel():
                return channel.url, formats.slack_body(payload), {}
        raise AssertionError(f"not an HTTP channel: {channel.type}")

    async def send(self, payload: dict[str, Any]) -> None:
        url, body, headers = self._request(payload)
        try:
            async with asyncio.timeout(self.channel.timeout):
                response = await self._client.post(
                    url,
                    content=orjson.dumps(body),
                    headers={"content-type": "application/json", **headers},
                )
        except (httpx.HTTPError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")
        _check_answer(response)


def _check_answer(response: httpx.Response) -> None:
    # WeCom and DingTalk answer {"errcode": 0}, Feishu {"code": 0}; a webhook may answer anything.
    try:
        answer = response.json()
    except ValueError:
        return
    if not isinstance(answer, dict):
        return
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code not in (0, None):
        message = answer.get("errmsg", answer.get("msg", answer.get("StatusMessage", "")))
        raise DeliveryError(f"refused with code {code}: {message}")


class _SmtpSender:
    """One message per recipient; smtplib runs on a worker thread with a socket timeout."""

    def __init__(self, channel: SmtpChannel) -> None:
        self.channel = channel

    def _send_blocking(self, payload: dict[str, Any]) -> None:
        channel = self.channel
        to = [r["email"] for r in payload["alert"]["recipients"] if r.get("email")]
        message = formats.email(payload, channel.sender, to)
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout) as smtp:
            if channel.starttls:
                smtp.starttls()
            if channel.username is not None:
                smtp.login(channel.username, channel.password or "")
            smtp.send_message(message)

    async def send(self, payload: dict[str, Any]) -> None:
        try:
            # The socket timeout bounds each step; this bounds the whole conversation.
            async with asyncio.timeout(self.channel.timeout * 3):
                await asyncio.to_thread(self._send_blocking, payload)
        except (OSError, smtplib.SMTPException, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


class _MqttSender:
    """Publishes the webhook body through the notifier's own broker connection."""

    def __init__(self, channel: MqttChannel, site: str, publish: Publish) -> None:
        self.channel = channel
        self.topic = channel.topic.replace("{site}", site)
        self._publish = publish

    async def send(self, payload: dict[str, Any]) -> None:
        body = orjson.dumps(formats.webhook_body(payload))
        try:
            async with asyncio.timeout(self.channel.timeout):
                await self._publish(self.topic, body, self.channel.qos)
        except (DeliveryError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


def make_sender(
    channel: ChannelConfig, *, site: str, client: httpx.AsyncClient, clock: Clock,
    publish: Publish,
) -> Sender:
    match channel:
        case SmtpChannel():
            return _SmtpSender(channel)
        case MqttChannel():
            return _MqttSender(channel, site, publish)
        case _:
            return _HttpSender(channel, client, clock)
