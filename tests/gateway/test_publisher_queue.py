"""The publisher's queue, QoS, snapshot requests and heartbeat, against a real Mosquitto.

The gateway reaches Mosquitto through a relay (tests/gateway/relay.py) that a test opens and
cuts, while the test's subscriber stays connected to Mosquitto itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from fireroom import topics
from fireroom.clock import SystemClock
from fireroom.config import MqttConfig, ReportSettings, Site, parse_site
from fireroom.domain import Quality, Reading
from gateway import Gateway
from gateway.poller import Scan
from gateway.publisher import Publisher
from gateway.report import ExceptionReporter, ReportingSink
from gateway.snapshots import SnapshotRequests
from tests.gateway.modbus import sim_server, write_profile
from tests.gateway.pmtcp import PANEL_PROFILE
from tests.gateway.relay import relay
from tests.gateway.test_service import Collector, collect, is_telemetry, retained, running
from tests.servers import Broker, free_port
from tests.services.helpers import wait_for

pytestmark = pytest.mark.integration


def make(tmp_path: Path, site_id: str, devices: dict[str, tuple[str, int]],
         **extra: Any) -> Site:
    """A site of devices id -> (profile, port): `test-unit` (no roles) or `pm-panel`."""
    profiles = write_profile(tmp_path / "profiles")
    (profiles / "pm-panel.yaml").write_text(PANEL_PROFILE, encoding="utf-8")
    return parse_site({
        "site": {"id": site_id},
        "profile_dirs": [str(profiles)],
        "devices": [
            {"id": device, "profile": profile, "poll_interval": 0.1, "timeout": 0.3,
             "transport": {"type": "tcp", "host": "127.0.0.1", "port": port},
             **extra.get(device, {})}
            for device, (profile, port) in devices.items()
        ],
        **extra.get("site", {}),
    })


def seqs(inbox: Collector, device: str) -> list[int]:
    return [t.seq for t in inbox.telemetry(device)]


async def test_scans_before_the_broker_answers_are_queued_and_sent(
    mosquitto: Broker, tmp_path: Path
) -> None:
    port = free_port()
    site = make(tmp_path, "pq-cold", {"unit": ("test-unit", port)})
    async with sim_server(port), relay(mosquitto) as broker, \
            collect(mosquitto, site.id) as inbox:
        config = MqttConfig(host="127.0.0.1", port=broker.port)
        async with running(Gateway(site, config, rng=random.Random(1))) as gw:
            await wait_for(lambda: gw.stats()["unit"]["scans"] >= 3)
            stats = gw.stats()["unit"]
            assert (stats["published"], stats["dropped"]) == (0, 0)
            assert gw.publisher.queued >= 3
            await broker.open()
            await inbox.wait_for(lambda m: len(inbox.telemetry("unit")) >= 5, within=10)
    received = seqs(inbox, "unit")
    assert received[:5] == [1, 2, 3, 4, 5]  # the cold start's first scan included


async def test_queued_messages_follow_a_reconnect_in_order_and_alarms_go_at_qos_1(
    mosquitto: Broker, tmp_path: Path
) -> None:
    panel_port, unit_port = free_port(), free_port()
    site = make(tmp_path, "pq-again", {"panel": ("pm-panel", panel_port),
                                       "unit": ("test-unit", unit_port)})
    async with sim_server(panel_port), sim_server(unit_port), relay(mosquitto) as broker, \
            collect(mosquitto, site.id) as inbox:
        await broker.open()
        config = MqttConfig(host="127.0.0.1", port=broker.port)
        async with running(Gateway(site, config, rng=random.Random(1))) as gw:
            await inbox.wait_for(lambda m: len(inbox.telemetry("panel")) >= 3)
            await broker.close()
            await wait_for(lambda: not gw.publisher.connected)
            cut = gw.stats()["panel"]["scans"]
            await wait_for(lambda: gw.stats()["panel"]["scans"] >= cut + 5)
            assert gw.publisher.queued >= 5
            await broker.open()
            await inbox.wait_for(
                lambda m: bool(seqs(inbox, "panel")) and seqs(inbox, "panel")[-1] >= cut + 8,
                within=10)
            assert gw.stats()["panel"]["dropped"] == 0
    panel = seqs(inbox, "panel")
    # Nothing lost across the cut (a message in flight may come twice), and in order.
    assert sorted(set(panel)) == list(range(panel[0], panel[-1] + 1))
    first_seen = list(dict.fromkeys(panel))
    assert first_seen == sorted(first_seen)
    qos = {m.qos for m in inbox.messages if is_telemetry("panel")(m)}
    assert qos == {1}
    assert {m.qos for m in inbox.messages if is_telemetry("unit")(m)} == {0}


async def test_dropped_message_makes_the_next_one_full(mosquitto: Broker) -> None:
    clock = SystemClock()
    snapshots = SnapshotRequests(["panel"], ["panel"], clock)
    async with relay(mosquitto) as broker, collect(mosquitto, "pq-drop") as inbox:
        publisher = Publisher("pq-drop", MqttConfig(host="127.0.0.1", port=broker.port),
                              gateway_id="gw-pq-drop", queue_size=3, snapshots=snapshots)
        reporter = ExceptionReporter(
            ReportSettings(by_exception=True, integrity_seconds=3600), [], clock)
        sink = ReportingSink(publisher, {"panel": reporter}, snapshots=snapshots)
        for seq in range(1, 7):
            value = 0.5 if seq < 5 else 0.6
            sink.scan(Scan("panel", 1000.0 + seq, seq,
                           [Reading("a", value, Quality.GOOD), Reading("b", 1, Quality.GOOD)],
                           ok=True))
        assert publisher.stats["panel"].dropped == 3
        assert publisher.queued == 3
        await broker.open()
        task = asyncio.create_task(publisher.run())
        try:
            await inbox.wait_for(lambda m: len(inbox.telemetry("panel")) >= 3)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    messages = inbox.telemetry("panel")
    assert [t.seq for t in messages] == [4, 5, 6]
    # 4 was partial when queued; 5 and 6 were sent in full, as a message before each was lost.
    assert [t.full for t in messages] == [False, True, True]
    assert {r.point for r in messages[2].readings} == {"a", "b"}


async def test_snapshot_request_makes_the_next_message_full(
    mosquitto: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    report = {"report": {"by_exception": True, "integrity_seconds": 3600}}
    site = make(tmp_path, "pq-snap", {"unit": ("test-unit", port)}, unit=report)

    def partial_after(seq: int) -> Any:
        return lambda m: (is_telemetry("unit")(m) and m.json()["full"] is False
                          and m.json()["seq"] > seq)

    async with sim_server(port), collect(mosquitto, site.id) as inbox, \
            running(Gateway(site, MqttConfig(host=mosquitto.host, port=mosquitto.port))) as gw, \
            aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        last = (await inbox.wait_for(partial_after(0))).json()["seq"]
        request = topics.snapshot_request(site.id)
        for hostile in (b"not json", b"[1, 2]", b'{"devices": 5}', b'{"devices": [1]}',
                        b'{"reason": 7}', b'{"devices": ["nope"]}', b"x" * 100_000, b""):
            await client.publish(request, hostile, qos=1)
        await wait_for(lambda: gw.snapshots.ignored >= 6)
        # Still running, still partial: nothing hostile made a snapshot or stopped the gateway.
        after_hostile = (await inbox.wait_for(partial_after(last))).json()["seq"]
        await client.publish(request, b'{"devices": ["unit"], "reason": "seq gap"}', qos=1)
        full = await inbox.wait_for(lambda m: is_telemetry("unit")(m) and m.json()["full"]
                                    and m.json()["seq"] > after_hostile)
        await inbox.wait_for(partial_after(full.json()["seq"]))
        await client.publish(request, b"{}", qos=1)  # every device
        await inbox.wait_for(lambda m: is_telemetry("unit")(m) and m.json()["full"]
                             and m.json()["seq"] > full.json()["seq"])
    assert len(full.json()["readings"]) == 11
    warnings = [r for r in caplog.records
                if r.levelno == logging.WARNING and "snapshot request" in r.getMessage()]
    assert len(warnings) == 1  # at most one a minute


async def test_heartbeat_online_while_running_offline_after_a_clean_stop(
    mosquitto: Broker, tmp_path: Path
) -> None:
    port = free_port()
    site = make(tmp_path, "pq-beat", {"unit": ("test-unit", port)},
                site={"monitoring": {"heartbeat_seconds": 0.2}})
    topic = topics.heartbeat(site.id, "gw-pq-beat")
    async with sim_server(port), collect(mosquitto, site.id) as inbox:
        async with running(Gateway(site, MqttConfig(host=mosquitto.host, port=mosquitto.port))):
            first = await inbox.wait_for(lambda m: m.topic == topic)
            await inbox.wait_for(lambda m: m.topic == topic and m.payload != first.payload)
            alive = await retained(mosquitto, topic)
        gone = await retained(mosquitto, topic)
    assert (alive["state"], alive["kind"], alive["interval"]) == ("online", "gateway", 0.2)
    assert (gone["state"], gone["reason"]) == ("offline", "stopped")
    # The gateway status keeps its own last will and goodbye.
    assert (await retained(mosquitto, topics.gateway_status(site.id, "gw-pq-beat"))
            )["state"] == "offline"
