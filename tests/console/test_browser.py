"""The operator console in headless Chromium against the whole pipeline in this process:
pymodbus simulators, the gateway, real Mosquitto, the rules service and the API with the console.

A fire alarm played on the simulated panel must appear on the board without a reload (through
the SSE stream), and the operator acknowledges it from the board. Screenshots go to
test-artifacts/console/ for people to look at; nothing is judged from them.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fireroom.clock import SystemClock
from gateway import Gateway
from services.incidents import IncidentStore
from services.rules.service import RulesService
from simulators import SiteSimulator, load_scenario
from tests.console.api import PASSWORD, running_api
from tests.integration.sites import example_site
from tests.servers import Broker

pytestmark = pytest.mark.integration
playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
WAIT_MS = 20_000  # bound on every wait for the page; the pipeline needs ~2 s


@pytest.fixture
async def console(mosquitto: Broker, tmp_path: Path) -> AsyncIterator[tuple[str, SiteSimulator]]:
    site, _ = example_site(mosquitto, tmp_path)
    clock = SystemClock()
    store = IncidentStore(tmp_path / "incidents.sqlite3", clock)
    rules = RulesService(site, site.config.mqtt, store, clock=clock)
    gateway = Gateway(site, site.config.mqtt, clock=clock)
    async with (
        SiteSimulator(site, clock=clock) as sim,
        running_api(store, tmp_path, site) as base,
        asyncio.TaskGroup() as group,
    ):
        tasks = [
            group.create_task(rules.run(), name="rules"),
            group.create_task(gateway.run(), name="gateway"),
        ]
        try:
            yield base, sim
        finally:
            for task in tasks:
                task.cancel()
    store.close()


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium is not installed")
async def test_fire_alarm_reaches_the_board_live_and_is_acknowledged(
    console: tuple[str, SiteSimulator],
) -> None:
    base, sim = console
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        page.set_default_timeout(WAIT_MS)
        await page.goto(f"{base}/")
        await page.fill("input[name=username]", "operator1")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("#live.on")
        await page.screenshot(path=ARTIFACTS / "01-board-quiet.png")

        # Played now rather than at its scheduled time, so the page is already open.
        for index, step in enumerate(load_scenario("fire-alarm").steps):
            sim.apply(step, index)
        fire = page.locator("#board tr.fire[data-rule=fire_alarm]")
        await fire.first.wait_for()
        assert "L1-SD003" in await fire.first.inner_text()
        await page.screenshot(path=ARTIFACTS / "02-fire-alarm-zh.png")

        await fire.first.locator("button.ack").click()
        await page.locator("#board tr.fire.st-active_acked").first.wait_for()

        await page.click("#lang")
        await page.locator("#board th", has_text="Severity").wait_for()
        await page.screenshot(path=ARTIFACTS / "03-acknowledged-en.png")

        await page.click("nav button[data-tab=devices]")
        await page.locator("#device-list tr").first.wait_for()
        await page.screenshot(path=ARTIFACTS / "04-devices-en.png")
        await browser.close()
