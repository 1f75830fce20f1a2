"""The operator console in headless Chromium against the whole pipeline in this process:
pymodbus simulators, the gateway, real Mosquitto, the rules service and the API with the console.

A fire alarm played on the simulated panel must appear on the board without a reload (through
the SSE stream), and the operator acknowledges it from the board, writes the duty log and signs
the shift handover; the next operator logs in, is refused until every open critical/major
incident is ticked, and accepts. Screenshots go to test-artifacts/console/ for people to look
at; nothing is judged from them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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


async def _login(page: Any, username: str) -> None:
    await page.locator("#login-view").wait_for()
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#live.on")


@pytest.mark.timeout(180)
async def test_fire_alarm_live_ack_and_shift_handover(
    console: tuple[str, SiteSimulator],
) -> None:
    base, sim = console
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with playwright_api.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        page.set_default_timeout(WAIT_MS)
        await page.goto(f"{base}/")
        await _login(page, "operator1")
        await page.screenshot(path=ARTIFACTS / "01-board-quiet.png")

        # Played now rather than at its scheduled time, so the page is already open.
        for index, step in enumerate(load_scenario("fire-alarm").steps):
            sim.apply(step, index)
        fire = page.locator("#board tr.fire[data-rule=fire_alarm]")
        await fire.first.wait_for()
        assert "L1-SD003" in await fire.first.inner_text()
        fire_id = int(await fire.first.get_attribute("data-incident") or 0)
        await page.screenshot(path=ARTIFACTS / "02-fire-alarm-zh.png")

        await fire.first.locator("button.ack").click()
        await page.locator("#board tr.fire.st-active_acked").first.wait_for()

        # Duty log: check in, write a note; the newest entry is on top.
        await page.click("nav button[data-tab=duty]")
        await page.click("#check-in")
        await page.locator("#on-duty", has_text="operator1").wait_for()
        await page.fill("#duty-form input[name=text]", "L1-SD003 现场确认为误报，已复位探测器")
        await page.click("#duty-form button[type=submit]")
        await page.locator("#duty-list tr", has_text="现场确认为误报").wait_for()
        await page.screenshot(path=ARTIFACTS / "03-duty-log-zh.png")

        # The outgoing operator signs the handover; the draft lists the fire alarm.
        await page.click("nav button[data-tab=handover]")
        draft = page.locator("#draft-form")
        await draft.locator("[data-part=open_incidents] li", has_text="L1-SD003").wait_for()
        await draft.locator("textarea[name=notes]").fill("一层 L1-SD003 火警已确认，待维保复查。")
        await page.screenshot(path=ARTIFACTS / "04-handover-draft-zh.png")
        await page.click("#sign-handover")
        waiting = page.locator("#handover-waiting")
        await waiting.wait_for()
        assert "operator1" in await waiting.inner_text()
        await page.screenshot(path=ARTIFACTS / "05-handover-signed-zh.png")

        await page.click("#logout")
        await _login(page, "operator2")

        # The incoming operator: refused (422) until the fire alarm is ticked.
        await page.click("nav button[data-tab=handover]")
        accept = page.locator("#accept-form")
        await accept.locator("p.notes", has_text="L1-SD003").wait_for()
        await accept.locator("textarea[name=notes]").fill("已接班，火警已知悉。")
        await page.click("#accept-handover")
        error = page.locator("#accept-error")
        await error.wait_for()
        assert f"#{fire_id}" in await error.inner_text()
        missing = page.locator(f"#accept-form label.check.missing[data-incident='{fire_id}']")
        await missing.wait_for()
        await page.screenshot(path=ARTIFACTS / "06-accept-refused-zh.png")

        for box in await page.locator("#accept-form input[name=ack]").all():
            await box.check()
        await page.click("#accept-handover")
        accepted = page.locator("#handover-accepted")
        await accepted.wait_for()
        text = await accepted.inner_text()
        assert "operator2" in text
        assert f"#{fire_id}" in text
        await page.screenshot(path=ARTIFACTS / "07-handover-accepted-zh.png")

        printed = await page.request.get(
            base + (await accepted.locator("a.print").get_attribute("href") or "")
        )
        assert printed.ok
        assert "operator2" in await printed.text()

        await page.click("#lang")
        await page.locator("#handover-accepted h2", has_text="Accepted").wait_for()
        await page.screenshot(path=ARTIFACTS / "08-handover-accepted-en.png")

        await page.click("nav button[data-tab=board]")
        await page.locator("#board th", has_text="Severity").wait_for()
        await page.locator("#board tr.fire.st-active_acked").first.wait_for()
        await page.screenshot(path=ARTIFACTS / "09-board-en.png")

        await page.click("nav button[data-tab=devices]")
        await page.locator("#device-list tr").first.wait_for()
        await page.screenshot(path=ARTIFACTS / "10-devices-en.png")
        await browser.close()
