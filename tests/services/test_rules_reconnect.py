"""The rules service gets back to the broker quickly: a fire alarm waits on that connection."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from fireroom.config import MqttConfig
from services.incidents import IncidentStore
from services.rules.service import RulesService
from tests.gateway.relay import Relay
from tests.servers import Broker, listen_ports
from tests.services.helpers import wait_for
from tests.services.test_rules_watch import make
from tests.services.test_service import unique_site


class Mute:
    """Takes connections and never answers: a proxy whose broker is restarting."""

    def __init__(self) -> None:
        self.accepted = asyncio.Event()
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.set()
        self.writers.append(writer)
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                pass
        writer.close()

    async def hang_up(self) -> None:
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def test_an_unanswered_connect_does_not_keep_the_rules_away_for_long(
    mosquitto: Broker, tmp_path: Path
) -> None:
    port = listen_ports(1)[0]
    site = make(unique_site())
    mute = Mute()
    server = await asyncio.start_server(mute.handle, "127.0.0.1", port)
    relay = Relay(mosquitto)
    relay.port = port
    with IncidentStore(tmp_path / "incidents.db") as store:
        service = RulesService(site, MqttConfig(host="127.0.0.1", port=port), store)
        async with asyncio.TaskGroup() as group:
            task = group.create_task(service.run(), name="test.rules")
            # The service's first connect is taken and left unanswered...
            async with asyncio.timeout(5):
                await mute.accepted.wait()
            server.close()
            # ...then the broker is there: the service must be on it within a few seconds,
            # not after aiomqtt's default 10 s connect timeout and a 15 s backoff.
            await relay.open()
            try:
                await wait_for(lambda: service.stats().get("connects"), within=6)
            finally:
                task.cancel()
                await relay.close()
                await mute.hang_up()
