"""The `notifications:` section of a site config: who is told about incidents, how and when."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fireroom.domain import Severity

__all__ = [
    "ChannelConfig",
    "DingTalkChannel",
    "EscalationStep",
    "FeishuChannel",
    "MqttChannel",
    "NotificationsConfig",
    "Recipient",
    "RetryConfig",
    "Route",
    "RouteMatch",
    "SlackChannel",
    "SmtpChannel",
    "WeComChannel",
    "WebhookChannel",
]

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Timeout = Annotated[float, Field(gt=0, le=60)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]
Minutes = Annotated[float, Field(gt=0, le=7 * 24 * 60)]
Event = Literal["raised", "retriggered", "updated", "acknowledged", "cleared", "closed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Recipient(_Strict):
    id: Ident
    name: str = ""
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None


class _Channel(_Strict):
    id: Ident
    timeout: Timeout = 5.0


class WebhookChannel(_Channel):
    """Generic JSON: the incident change plus `text` and `alert`."""

    type: Literal["webhook"]
    url: HttpUrl
    headers: dict[str, str] = {}


class WeComChannel(_Channel):
    type: Literal["wecom"]
    url: HttpUrl


class DingTalkChannel(_Channel):
    type: Literal["dingtalk"]
    url: HttpUrl
    secret: str | None = None  # the robot's "加签" secret: URLs are signed when set


class FeishuChannel(_Channel):
    type: Literal["feishu"]
    url: HttpUrl
    secret: str | None = None  # the bot's signature secret: bodies are signed when set


class SlackChannel(_Channel):
    type: Literal["slack"]
    url: HttpUrl


class SmtpChannel(_Channel):
    type: Literal["smtp"]
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]


class MqttChannel(_Channel):
    type: Literal["mqtt"]
    topic: str = "fireroom/v1/{site}/alerts"  # `{site}` is replaced by the site id
    qos: Literal[0, 1, 2] = 1


ChannelConfig = Annotated[
    WebhookChannel
    | WeComChannel
    | DingTalkChannel
    | FeishuChannel
    | SlackChannel
    | SmtpChannel
    | MqttChannel,
    Field(discriminator="type"),
]


class RouteMatch(_Strict):
    """An incident matches when each non-empty list holds its value (empty: any)."""

    severity: list[Severity] = []
    rules: list[str] = []
    sites: list[str] = []
    devices: list[str] = []


class EscalationStep(_Strict):
    after_minutes: Minutes  # since the incident became active, still unacknowledged
    channels: list[Ident]
    recipients: list[Ident] = []


class Route(_Strict):
    match: RouteMatch = RouteMatch()
    channels: list[Ident]
    recipients: list[Ident] = []
    # "updated" is left out by default: a changed message is not worth an engineer's phone
    # buzzing, while a severity rise still reaches the routes of the new severity.
    events: list[Event] = ["raised", "retriggered", "acknowledged", "cleared"]
    repeat_minutes: Minutes | None = None
    escalation: list[EscalationStep] = []

    @model_validator(mode="after")
    def _ordered_steps(self) -> Self:
        after = [step.after_minutes for step in self.escalation]
        if after != sorted(after):
            raise ValueError(f"escalation steps must be in after_minutes order, got {after}")
        return self


class RetryConfig(_Strict):
    max_attempts: Annotated[int, Field(ge=1, le=1000)] = 12  # then the alert is dead-lettered
    initial_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    max_seconds: Annotated[float, Field(gt=0, le=86400)] = 300.0


class NotificationsConfig(_Strict):
    recipients: list[Recipient] = []
    channels: list[ChannelConfig] = []
    routes: list[Route] = []
    retry: RetryConfig = RetryConfig()
    poll_seconds: Annotated[float, Field(gt=0, le=600)] = 5.0  # escalation and repeat checks

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems: list[str] = []
        channels = {channel.id: channel for channel in self.channels}
        recipients = {recipient.id: recipient for recipient in self.recipients}
        for kind, ids in (("channel", [c.id for c in self.channels]),
                          ("recipient", [r.id for r in self.recipients])):
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                problems.append(f"{kind} ids must be unique, repeated: {repeated}")
        for r, route in enumerate(self.routes):
            steps = [(f"routes[{r}]", route.channels, route.recipients)]
            steps += [
                (f"routes[{r}].escalation[{s}]", step.channels, step.recipients)
                for s, step in enumerate(route.escalation)
            ]
            for at, channel_ids, recipient_ids in steps:
                problems += [f"{at}.channels: unknown channel {c!r}"
                             for c in channel_ids if c not in channels]
                problems += [f"{at}.recipients: unknown recipient {p!r}"
                             for p in recipient_ids if p not in recipients]
                mailed = [c for c in channel_ids if isinstance(channels.get(c), SmtpChannel)]
                if mailed:
                    problems += [
                        f"{at}.recipients: {p!r} has no email for channel {mailed[0]!r}"
                        for p in recipient_ids if p in recipients and not recipients[p].email
                    ]
                    if not recipient_ids:
                        problems.append(f"{at}.recipients: channel {mailed[0]!r} needs recipients")
        if problems:
            raise ValueError("; ".join(problems))
        return self
