"""Heartbeats: every fireroom process says it is alive, and watchers notice when one is gone.

    fireroom/v1/{site}/heartbeat/{process}      retained, QoS 1
    {"process": "rules", "kind": "rules", "state": "online", "ts": 1764130000.1, "interval": 5.0,
     "reason": ""}

A process publishes `online` every `interval` seconds and arms a last will that sets `offline`
when its connection dies; it publishes `offline` itself when it stops. A watcher counts a
process gone when it said `offline`, or when it has not been heard for the watcher's window,
measured on the watcher's own monotonic clock: a peer's wall clock may be wrong, and a retained
heartbeat may be old. The process id is the kind for the site's singletons (`rules`,
`notify`, `api`) and the gateway's id for gateways.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import aiomqtt
import orjson

from fireroom import mqtt, topics
from fireroom.clock import Clock

__all__ = ["KINDS", "Heartbeat", "Watch", "beat", "decode", "offline_will"]

Kind = Literal["gateway", "rules", "notify", "api"]
KINDS: tuple[Kind, ...] = ("gateway", "rules", "notify", "api")
_MAX_PAYLOAD = 4096


@dataclass(frozen=True, slots=True)
class Heartbeat:
    process: str
    kind: Kind
    state: Literal["online", "offline"]
    ts: float | None  # the sender's wall clock; None in a last will (sent at an unknown time)
    interval: float
    reason: str = ""
    # Alive but failing at its job (e.g. "incident store unwritable: 1 alarm not stored");
    # watchers treat it as loudly as a process that is gone.
    degraded: str = ""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "process": self.process,
                "kind": self.kind,
                "state": self.state,
                "ts": self.ts,
                "interval": self.interval,
                "reason": self.reason,
                "degraded": self.degraded,
            }
        )


def decode(payload: bytes) -> Heartbeat:
    """A heartbeat message; ValueError naming what is wrong otherwise."""
    if len(payload) > _MAX_PAYLOAD:
        raise ValueError(f"heartbeat of {len(payload)} bytes exceeds {_MAX_PAYLOAD}")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"heartbeat is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("heartbeat is not an object")  # noqa: TRY004 - one error type
    process, kind, state = data.get("process"), data.get("kind"), data.get("state")
    ts, interval, reason = data.get("ts"), data.get("interval"), data.get("reason", "")
    degraded = data.get("degraded", "")
    if not isinstance(process, str) or not process:
        raise ValueError("heartbeat has no 'process'")
    if kind not in KINDS:
        raise ValueError(f"heartbeat kind {kind!r} is not one of {', '.join(KINDS)}")
    if state not in ("online", "offline"):
        raise ValueError(f"heartbeat state {state!r} is neither online nor offline")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, (int, float))):
        raise ValueError(f"heartbeat ts {ts!r} is not a number")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        raise ValueError(f"heartbeat interval {interval!r} is not a positive number")
    if not isinstance(reason, str) or not isinstance(degraded, str):
        raise ValueError("heartbeat reason or degraded is not text")  # noqa: TRY004
    return Heartbeat(process, kind, state, None if ts is None else float(ts), float(interval),
                     reason[:200], degraded[:500])


def offline_will(site: str, process: str, kind: Kind, interval: float) -> aiomqtt.Will:
    """The last will that marks `process` offline when its connection dies."""
    payload = Heartbeat(process, kind, "offline", None, interval, "connection lost").to_json()
    return aiomqtt.Will(topics.heartbeat(site, process), payload, qos=1, retain=True)


async def beat(
    client: aiomqtt.Client,
    site: str,
    process: str,
    kind: Kind,
    *,
    interval: float,
    clock: Clock,
    degraded: Callable[[], str] | None = None,
) -> None:
    """Publish `online` every `interval` until cancelled, then `offline` (best effort).

    `degraded` is asked before each beat; a non-empty answer goes out with it.
    """
    topic = topics.heartbeat(site, process)
    try:
        while True:
            problem = degraded() if degraded is not None else ""
            payload = Heartbeat(
                process, kind, "online", clock.now(), interval, degraded=problem
            ).to_json()
            await mqtt.publish(client, topic, payload, qos=1, retain=True)
            await clock.sleep(interval)
    except asyncio.CancelledError:
        # A clean disconnect suppresses the last will: say goodbye ourselves.
        goodbye = Heartbeat(process, kind, "offline", clock.now(), interval, "stopped")
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with asyncio.timeout(1):
                await client.publish(topic, goodbye.to_json(), qos=1, retain=True)
        raise


@dataclass(slots=True)
class _Seen:
    heartbeat: Heartbeat
    at: float  # watcher's monotonic time of receipt


class Watch:
    """What a watcher knows of the site's processes, from their heartbeats.

    Args:
        clock: the watcher's clock; silence is measured on its `monotonic()`.
        gone_after: seconds without a heartbeat after which a process is gone.
    """

    def __init__(self, clock: Clock, gone_after: float) -> None:
        self._clock = clock
        self._gone_after = gone_after
        self._seen: dict[str, _Seen] = {}
        self._expected: dict[str, tuple[Kind, float]] = {}  # process -> (kind, since)

    def expect(self, process: str, kind: Kind) -> None:
        """Count `process` gone if it is not heard within the window from now."""
        self._expected.setdefault(process, (kind, self._clock.monotonic()))

    def heard(self, heartbeat: Heartbeat) -> None:
        self._seen[heartbeat.process] = _Seen(heartbeat, self._clock.monotonic())

    def processes(self, kind: Kind | None = None) -> list[str]:
        """Every process heard of or expected, of `kind` if given, sorted."""
        names = {
            name for name, seen in self._seen.items()
            if kind is None or seen.heartbeat.kind == kind
        }
        names |= {name for name, (k, _) in self._expected.items() if kind is None or k == kind}
        return sorted(names)

    def degraded(self, process: str) -> str:
        """What `process` said is failing in its last heartbeat ("" when nothing)."""
        seen = self._seen.get(process)
        return "" if seen is None else seen.heartbeat.degraded

    def gone(self, process: str) -> str | None:
        """Why `process` counts as gone, or None while it is alive (or still in its window)."""
        now = self._clock.monotonic()
        seen = self._seen.get(process)
        if seen is None:
            expected = self._expected.get(process)
            if expected is not None and now - expected[1] >= self._gone_after:
                return f"not heard for {now - expected[1]:.0f} s"
            return None
        if seen.heartbeat.state == "offline":
            return f"offline ({seen.heartbeat.reason or 'no reason given'})"
        # A process heard once says how often it beats: give it that, or the window if longer.
        window = max(self._gone_after, 3 * seen.heartbeat.interval)
        silent = now - seen.at
        if silent >= window:
            return f"not heard for {silent:.0f} s"
        return None

    def last_heard(self, process: str) -> float | None:
        """Seconds since the last heartbeat of `process`, or None if never heard."""
        seen = self._seen.get(process)
        return None if seen is None else self._clock.monotonic() - seen.at

    def kind_of(self, process: str) -> Kind | None:
        seen = self._seen.get(process)
        if seen is not None:
            return seen.heartbeat.kind
        expected = self._expected.get(process)
        return None if expected is None else expected[0]
