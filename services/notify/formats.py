"""What an alert says, in each destination's format, and the chat apps' signatures.

An alert payload (as the outbox keeps it) is the incident change JSON published by the rules
service, plus `alert`: {kind: change|escalation|repeat, step, recipients: [{id, name, email}]}.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus

__all__ = [
    "dingtalk_body",
    "dingtalk_sign",
    "dingtalk_url",
    "email",
    "feishu_body",
    "feishu_sign",
    "markdown",
    "slack_body",
    "subject",
    "text",
    "webhook_body",
    "wecom_body",
]

_EVENT_WORDS = {
    "raised": "raised",
    "retriggered": "active again",
    "updated": "updated",
    "acknowledged": "acknowledged",
    "cleared": "cleared",
    "closed": "closed",
}


def _why(payload: dict[str, Any]) -> str:
    alert = payload["alert"]
    incident = payload["incident"]
    match alert["kind"]:
        case "escalation":
            return f"unacknowledged for {alert['minutes']:g} min (escalation step {alert['step']})"
        case "repeat":
            still = "cleared but" if incident["state"] == "cleared_unacked" else "still active and"
            return f"{still} unacknowledged (reminder {alert['step']})"
        case _:
            word: str = _EVENT_WORDS.get(payload["event"], payload["event"])
            if payload["event"] == "acknowledged" and incident.get("acked_by"):
                word += f" by {incident['acked_by']}"
            return word


def subject(payload: dict[str, Any]) -> str:
    """One line: severity, subject, what happened."""
    incident = payload["incident"]
    return f"[{incident['severity'].upper()}] {incident['subject']}: {_why(payload)}"


def _facts(payload: dict[str, Any]) -> list[str]:
    incident = payload["incident"]
    facts = [
        f"Site: {incident['site']}",
        f"Rule: {incident['rule']}",
        f"Device: {incident['device'] or '-'}" + (f" point {incident['point']}"
                                                  if incident.get("point") else ""),
        f"State: {incident['state']}",
        f"Raised: {incident.get('raised_at') or '-'}",
        # A provisional alarm was published before the store could take it: say so.
        f"Incident: #{incident['id']}" if incident["id"] is not None
        else "Incident: not stored yet (the incident store is failing)",
    ]
    names = [r["name"] or r["id"] for r in payload["alert"].get("recipients", [])]
    if names:
        facts.append("For: " + ", ".join(names))
    return facts


def text(payload: dict[str, Any]) -> str:
    """Plain text: the subject line, the message, then the facts."""
    return "\n".join([subject(payload), payload["incident"]["message"], *_facts(payload)])


def markdown(payload: dict[str, Any]) -> str:
    lines = [f"**{subject(payload)}**", "", payload["incident"]["message"], ""]
    return "\n".join(lines + [f"- {fact}" for fact in _facts(payload)])


def webhook_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The incident change as published on MQTT, plus the alert and a short text."""
    return {**payload, "text": subject(payload)}


def wecom_body(payload: dict[str, Any]) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": markdown(payload)}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk robot signature: base64(HMAC-SHA256(secret, "<ms>\\n<secret>"))."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    if secret is None:
        return url
    sign = quote_plus(dingtalk_sign(secret, timestamp_ms))
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign}"


def dingtalk_body(payload: dict[str, Any]) -> dict[str, Any]:
    return {"msgtype": "markdown",
            "markdown": {"title": subject(payload), "text": markdown(payload)}}


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu bot signature: base64(HMAC-SHA256 keyed with "<s>\\n<secret>" over nothing)."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_body(payload: dict[str, Any], secret: str | None, timestamp_s: int) -> dict[str, Any]:
    body: dict[str, Any] = {"msg_type": "text", "content": {"text": text(payload)}}
    if secret is not None:
        body = {"timestamp": str(timestamp_s), "sign": feishu_sign(secret, timestamp_s), **body}
    return body


def slack_body(payload: dict[str, Any]) -> dict[str, Any]:
    facts = "\n".join(_facts(payload))
    return {
        "text": subject(payload),  # what notifications and old clients show
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{subject(payload)}*"}},
            {"type": "section",
             "text": {"type": "mrkdwn", "text": f"{payload['incident']['message']}\n{facts}"}},
        ],
    }


def email(payload: dict[str, Any], sender: str, to: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject(payload)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message.set_content(text(payload))
    return message
