"""Heartbeats: hostile payloads, the watch on a simulated clock, beating against real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt
import orjson
import pytest

from fireroom import heartbeat, topics
from fireroom.clock import SimulatedClock, SystemClock
from fireroom.heartbeat import Heartbeat, Watch, decode
from tests.servers import Broker

GOOD = {"process": "rules", "kind": "rules", "state": "online", "ts": 1.5, "interval": 5.0}


def test_decode_round_trip() -> None:
    beat = Heartbeat("gw-a", "gateway", "online", 12.0, 2.0, degraded="buffer full")
    assert decode(beat.to_json()) == beat


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"x" * 5000, "exceeds"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not an object"),
        (orjson.dumps({**GOOD, "process": ""}), "'process'"),
        (orjson.dumps({**GOOD, "kind": "rootkit"}), "kind"),
        (orjson.dumps({**GOOD, "state": "zombie"}), "state"),
        (orjson.dumps({**GOOD, "ts": True}), "ts"),
        (orjson.dumps({**GOOD, "ts": "yesterday"}), "ts"),
        (orjson.dumps({**GOOD, "interval": 0}), "interval"),
        (orjson.dumps({**GOOD, "interval": False}), "interval"),
        (orjson.dumps({**GOOD, "reason": 7}), "text"),
        (orjson.dumps({**GOOD, "degraded": ["a"]}), "text"),
    ],
)
def test_hostile_payloads_are_refused(payload: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        decode(payload)


def test_long_texts_are_cut() -> None:
    beat = decode(orjson.dumps({**GOOD, "reason": "r" * 1000, "degraded": "d" * 1000}))
    assert (len(beat.reason), len(beat.degraded)) == (200, 500)


def test_watch_on_a_simulated_clock() -> None:
    clock = SimulatedClock()
    watch = Watch(clock, gone_after=30)
    watch.expect("rules", "rules")
    clock.advance(29)
    assert watch.gone("rules") is None  # still within its window
    clock.advance(1)
    assert watch.gone("rules") == "not heard for 30 s"
    watch.heard(Heartbeat("rules", "rules", "online", None, 5.0))
    assert watch.gone("rules") is None
    clock.advance(29.9)
    assert watch.gone("rules") is None
    clock.advance(0.1)
    assert watch.gone("rules") == "not heard for 30 s"
    # A slow beater is given three of its intervals when that is longer than the window.
    watch.heard(Heartbeat("gw-a", "gateway", "online", None, 20.0))
    clock.advance(59)
    assert watch.gone("gw-a") is None
    clock.advance(1)
    assert watch.gone("gw-a") == "not heard for 60 s"
    watch.heard(Heartbeat("rules", "rules", "online", None, 5.0, degraded="store unwritable"))
    assert watch.gone("rules") is None
    assert watch.degraded("rules") == "store unwritable"
    watch.heard(Heartbeat("rules", "rules", "offline", None, 5.0, "connection lost"))
    assert watch.gone("rules") == "offline (connection lost)"
    assert watch.processes("gateway") == ["gw-a"]
    assert watch.processes() == ["gw-a", "rules"]
    assert watch.kind_of("gw-a") == "gateway"


@pytest.mark.integration
async def test_beat_and_goodbye_against_mosquitto(mosquitto: Broker) -> None:
    site = f"hb-{id(object()):x}"
    heard: list[Heartbeat] = []
    problem = ""
    async with (
        aiomqtt.Client(mosquitto.host, mosquitto.port) as watcher,
        aiomqtt.Client(mosquitto.host, mosquitto.port,
                       will=heartbeat.offline_will(site, "notify", "notify", 0.1)) as beater,
    ):
        await watcher.subscribe(topics.heartbeat_filter(site), qos=1)
        task = asyncio.create_task(heartbeat.beat(
            beater, site, "notify", "notify", interval=0.1, clock=SystemClock(),
            degraded=lambda: problem,
        ), name="test.beat")

        async def until(done: object) -> None:
            async with asyncio.timeout(10):
                async for message in watcher.messages:
                    assert isinstance(message.payload, bytes)
                    heard.append(decode(message.payload))
                    if done(heard[-1]):  # type: ignore[operator]
                        return

        await until(lambda beat: beat.state == "online")
        problem = "outbox unwritable"
        await until(lambda beat: beat.degraded == "outbox unwritable")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await until(lambda beat: beat.state == "offline")
    assert heard[0].process == "notify"
    assert heard[0].kind == "notify"
    assert heard[0].interval == 0.1
    assert heard[-1].reason == "stopped"
