"""Which alerts an incident change, or an incident left unacknowledged, calls for.

Alert keys are built from the incident and what happened to it, never from when the notifier
saw it, so the MQTT message, the store poll and a restarted notifier all arrive at the same key
and the outbox keeps one alert per destination:

    {site}/{incident}/active{count}                raised or retriggered (count-th activation)
    {site}/{incident}/active{count}/esc{r}.{s}     escalation step s of route r
    {site}/{incident}/active{count}/repeat{r}.{n}  n-th reminder of route r
    {site}/{incident}/cleared{count}, ack@{acked_at}, closed, update@{digest}
each followed by `/{channel}` and, for e-mail, `/{recipient}`.

Escalation and reminders run until a person acknowledges, whether or not the condition has
cleared meanwhile: a fire alarm that cleared by itself is still a fire nobody has looked at. A
cleared incident keeps the keys of its activation (`active{count}`), so clearing neither repeats
an escalation step already sent nor skips one that is due.

A provisional change (`"stored": false`, published when the rules service could not store the
alarm) has no incident id yet; its keys are `{site}/pending/{rule}/{subject}/{digest}`, which no
stored incident's key can equal, and the digest of what it says makes a redelivery send nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from fireroom.notify_config import NotificationsConfig, Route, RouteMatch, SmtpChannel
from services.notify.outbox import Alert

__all__ = ["change_alerts", "matches", "overdue_alerts"]

_RANK = {"critical": 4, "major": 3, "minor": 2, "info": 1}


def matches(match: RouteMatch, incident: dict[str, Any]) -> bool:
    """True when every non-empty list of the match holds the incident's value."""
    return all(
        not allowed or value in allowed
        for allowed, value in (
            ([s.value for s in match.severity], incident["severity"]),
            (match.rules, incident["rule"]),
            (match.sites, incident["site"]),
            (match.devices, incident["device"]),
        )
    )


def _tag(event: str, incident: dict[str, Any]) -> str:
    match event:
        case "raised" | "retriggered":
            return f"active{incident['count']}"
        case "cleared":
            return f"cleared{incident['count']}"
        case "acknowledged":
            return f"ack@{incident['acked_at']}"
        case "closed":
            return "closed"
    digest = hashlib.sha256(orjson.dumps(incident, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"update@{digest[:16]}"


def _incident_key(change: dict[str, Any]) -> str:
    incident = change["incident"]
    if change.get("stored") is not False:
        return f"{incident['site']}/{incident['id']}"
    said = {k: incident.get(k) for k in ("severity", "message", "detail", "count", "point")}
    digest = hashlib.sha256(orjson.dumps(said, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{incident['site']}/pending/{incident['rule']}/{incident['subject']}/{digest[:16]}"


class _Builder:
    """Collects alerts by key; routes that share a channel merge their recipients."""

    def __init__(self, config: NotificationsConfig, change: dict[str, Any]) -> None:
        self._channels = {channel.id: channel for channel in config.channels}
        self._people = {person.id: person for person in config.recipients}
        self._change = change
        self.alerts: dict[str, Alert] = {}

    def add(self, tag: str, channels: list[str], recipients: list[str], **alert: Any) -> None:
        incident = self._change["incident"]
        urgent = alert["kind"] != "change" or self._change["event"] in ("raised", "retriggered")
        priority = _RANK.get(incident["severity"], 0) * 2 + int(urgent)
        people = [self._people[p].model_dump() for p in recipients]
        base = f"{_incident_key(self._change)}/{tag}"
        for channel in channels:
            if isinstance(self._channels[channel], SmtpChannel):
                # One message per person: a bad address fails alone and is retried alone.
                targets = [(f"{base}/{channel}/{p['id']}", [p]) for p in people]
            else:
                targets = [(f"{base}/{channel}", people)]
            for key, who in targets:
                known = self.alerts.get(key)
                if known is not None:
                    merged = known.payload["alert"]["recipients"]
                    merged += [p for p in who if p not in merged]
                    continue
                payload = {**self._change, "alert": {**alert, "recipients": list(who)}}
                self.alerts[key] = Alert(key=key, channel=channel, priority=priority,
                                         payload=payload)


def _routes(config: NotificationsConfig, incident: dict[str, Any]) -> list[tuple[int, Route]]:
    return [(r, route) for r, route in enumerate(config.routes) if matches(route.match, incident)]


def change_alerts(config: NotificationsConfig, change: dict[str, Any]) -> list[Alert]:
    """Alerts for one incident change as the rules service publishes it."""
    incident = change["incident"]
    event = change["event"]
    builder = _Builder(config, change)
    for _, route in _routes(config, incident):
        if event in route.events:
            builder.add(_tag(event, incident), route.channels, route.recipients,
                        kind="change", step=0)
        elif event == "updated" and incident["state"] == "active_unacked":
            # A severity rise brings new routes in: they hear of the activation once.
            builder.add(_tag("raised", incident), route.channels, route.recipients,
                        kind="change", step=0)
    return list(builder.alerts.values())


def overdue_alerts(
    config: NotificationsConfig, change: dict[str, Any], active_since: float, now: float
) -> list[Alert]:
    """For an unacknowledged incident, active or cleared: its activation (in case the message
    was missed), the escalation steps whose time has come and the current reminder."""
    incident = change["incident"]
    active = _tag("raised", incident)
    builder = _Builder(config, change)
    minutes = (now - active_since) / 60
    for r, route in _routes(config, incident):
        if "raised" in route.events:
            builder.add(active, route.channels, route.recipients, kind="change", step=0)
        for s, step in enumerate(route.escalation, start=1):
            if minutes >= step.after_minutes:
                builder.add(f"{active}/esc{r}.{s}", step.channels, step.recipients,
                            kind="escalation", step=s, minutes=step.after_minutes)
        if route.repeat_minutes is not None and minutes >= route.repeat_minutes:
            # Only the current reminder: after an outage one message, not one per period.
            n = int(minutes // route.repeat_minutes)
            builder.add(f"{active}/repeat{r}.{n}", route.channels, route.recipients,
                        kind="repeat", step=n)
    return list(builder.alerts.values())
