"""A fire on a panel that was unreadable reaches the broker well inside GB 25506's 10 s.

The whole gateway, a real Mosquitto and a panel served by pyModbusTCP (not pymodbus): a panel
that refuses a block while it boots, and a serial gateway that cannot reach its panel.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyModbusTCP.constants import (
    EXP_DATA_ADDRESS,
    EXP_GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND,
)

from fireroom.config import MqttConfig, Site, parse_site
from gateway import Gateway
from tests.gateway.pmtcp import PANEL_PROFILE, ScriptedHandler, run_pmtcp
from tests.gateway.test_service import Message, collect, is_status, is_telemetry, running
from tests.servers import Broker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

FIRE = 0b10
GB25506_SECONDS = 10.0


def panel_site(tmp_path: Path, site_id: str, port: int) -> Site:
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "pm-panel.yaml").write_text(PANEL_PROFILE, encoding="utf-8")
    return parse_site({
        "site": {"id": site_id},
        "profile_dirs": [str(profiles)],
        # The default comm-loss window (3 intervals, at most 100 s) of a 1 s poll.
        "devices": [{"id": "panel", "profile": "pm-panel", "poll_interval": 1.0,
                     "timeout": 0.5, "max_gap": 0,
                     "transport": {"type": "tcp", "host": "127.0.0.1", "port": port}}],
    })


@pytest.fixture
def handler() -> ScriptedHandler:
    return ScriptedHandler({0: 1, 5: 62, 10: 1, 12: 1})


@pytest.fixture
def pmtcp(handler: ScriptedHandler) -> Iterator[int]:
    with run_pmtcp(handler) as port:
        yield port


def in_fire(message: Message) -> bool:
    return is_telemetry("panel")(message) and message.json()["readings"]["P0001"] == [
        ["fire"], "good"]


async def test_fire_behind_a_block_refused_while_booting_is_published_promptly(
    mosquitto: Broker, tmp_path: Path, handler: ScriptedHandler, pmtcp: int
) -> None:
    site = panel_site(tmp_path, "fs-boot", pmtcp)
    handler.set(refuse={10: EXP_DATA_ADDRESS})  # booting: the detector block is not ready
    async with collect(mosquitto, site.id) as inbox, \
            running(Gateway(site, MqttConfig(host=mosquitto.host, port=mosquitto.port),
                            rng=random.Random(2))):
        refused = await inbox.wait_for(is_telemetry("panel"))
        assert refused.json()["readings"]["P0001"] == [None, "bad"]
        # The boot takes its time: three more scans with the block refused.
        await inbox.wait_for(lambda m: is_telemetry("panel")(m)
                             and m.json()["seq"] >= refused.json()["seq"] + 3)
        handler.set(refuse={}, holding={0: 0b11, 5: 62, 10: FIRE, 12: 1})
        served = time.monotonic()
        await inbox.wait_for(in_fire, within=GB25506_SECONDS)
        took = time.monotonic() - served
    # Within a poll or two (the block is asked again every max(poll, 2 s)), not 10 minutes.
    assert took < 4.0


async def test_fire_on_a_panel_its_serial_gateway_lost_is_published_promptly(
    mosquitto: Broker, tmp_path: Path, handler: ScriptedHandler, pmtcp: int
) -> None:
    site = panel_site(tmp_path, "fs-path", pmtcp)
    async with collect(mosquitto, site.id) as inbox, \
            running(Gateway(site, MqttConfig(host=mosquitto.host, port=mosquitto.port),
                            rng=random.Random(2))):
        await inbox.wait_for(is_status("panel", "online"))
        handler.set(fail_all=EXP_GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND)
        offline = await inbox.wait_for(is_status("panel", "offline"))
        lost = await inbox.wait_for(
            lambda m: is_telemetry("panel")(m) and m.json()["readings"]["P0001"][1] == "comm_lost")
        # Lost long enough for the gentle backoff to have grown to 8 s.
        await inbox.wait_for(
            lambda m: is_telemetry("panel")(m) and m.json()["ts"] >= offline.json()["since"] + 7,
            within=20)
        handler.set(fail_all=None, holding={0: 0b11, 5: 62, 10: FIRE, 12: 1})
        answered = time.monotonic()
        await inbox.wait_for(in_fire, within=GB25506_SECONDS)
        took = time.monotonic() - answered
        await inbox.wait_for(is_status("panel", "online"))
    assert "exception 11" in offline.json()["reason"]
    assert set(lost.json()["readings"]) == {"system_status", "pressure", "P0001", "P0002"}
    assert took < 3.0
