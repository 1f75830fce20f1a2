"""The console in headless Chromium: the red banner while monitoring is down, in both languages,
and a fire alarm panel's shelved supervision told apart from an ordinary shelved item."""

from __future__ import annotations

from pathlib import Path

import pytest

from fireroom.clock import SystemClock
from fireroom.config import MonitoringConfig, MqttConfig
from fireroom.domain import Severity
from services.api.changes import Changes
from services.api.monitor import Monitor
from services.incidents import IncidentStore
from services.incidents.shelving import ShelvingPolicy
from tests.console.api import running_api
from tests.console.test_browser import ARGS, CHROMIUM, WAIT_MS, _login, playwright_api
from tests.integration.sites import example_site
from tests.servers import Broker
from tests.services.notify.support import beating

pytestmark = pytest.mark.integration


@pytest.mark.timeout(120)
async def test_banner_and_shelved_supervision(tmp_path: Path, mosquitto: Broker) -> None:
    site, _ = example_site(mosquitto, tmp_path / "site")
    mqtt = MqttConfig(host=mosquitto.host, port=mosquitto.port)
    fast = MonitoringConfig(heartbeat_seconds=0.2, gone_after_seconds=1)
    monitor = Monitor(site.id, mqtt, fast, changes=Changes(), clock=SystemClock())
    store = IncidentStore(tmp_path / "incidents.sqlite3")
    panel = ShelvingPolicy.of(site)
    facp = next(iter(sorted(panel.panels)))
    for device in (facp, "pump-1"):
        change = store.raise_incident(
            site=site.id, rule="comm_loss", subject=f"{site.id}/{device}",
            severity=Severity.MAJOR, message=f"no answer from {device}", device=device,
        )
        store.shelve(change.incident.id, "operator1", "maintenance", SystemClock().now() + 600,
                     panel)
    async with (
        running_api(store, tmp_path, site, monitor=monitor) as base,
        playwright_api.async_playwright() as driver,
    ):
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        page.set_default_timeout(WAIT_MS)
        await page.goto(f"{base}/")
        async with beating(mqtt, site.id):
            await _login(page, "operator1")
            supervision = page.locator("#board tr.supervision")
            await supervision.first.wait_for()
            assert await supervision.count() == 1
            assert facp in await supervision.inner_text()
            assert "屏蔽中的监管" in await supervision.inner_text()
            ordinary = page.locator("#board tr.st-shelved:not(.supervision)")
            assert "已搁置" in await ordinary.inner_text()
            assert await page.locator("#monitoring-down").is_hidden()
        # The rules service stopped: the banner comes within the window and a poll.
        banner = page.locator("#monitoring-down")
        await banner.wait_for(state="visible")
        assert "监控中断：请直接查看火灾报警控制器" in await banner.inner_text()
        await page.click("#lang")
        assert "Monitoring is down: watch the fire alarm panel itself" in await banner.inner_text()
        assert "Shelved panel supervision" in await supervision.inner_text()
        await browser.close()
    store.close()
