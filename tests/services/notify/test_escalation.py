"""Routing, escalation, reminders, de-duplication, the outbox across a restart, config errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from fireroom.clock import SimulatedClock
from fireroom.domain import Severity
from fireroom.errors import ConfigError
from services.incidents import IncidentStore
from services.notify import NotifyService
from tests.services.helpers import wait_for
from tests.services.notify.receivers import HttpReceiver
from tests.services.notify.support import fire, notify_site, running, unique_site


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


def _kinds(http: HttpReceiver) -> list[tuple[str, str, int]]:
    return [(r.path, r.body["alert"]["kind"], r.body["alert"]["step"]) for r in http.requests]


async def _poll_once(service: NotifyService, clock: SimulatedClock, minutes: float) -> None:
    """Move time on and wait until the poll has looked at the store at least once since."""
    polls = service.stats().get("polls", 0)
    clock.advance(minutes * 60)
    await wait_for(lambda: service.stats().get("polls", 0) > polls)
    await wait_for(lambda: service.stats()["pending"] == 0)


async def test_routing_by_severity_rule_and_device(http: HttpReceiver, tmp_path: Path) -> None:
    site_id = unique_site()
    site = notify_site(
        site_id,
        [{"id": "fire", "type": "webhook", "url": http.url("/fire")},
         {"id": "pump", "type": "webhook", "url": http.url("/pump")}],
        [{"match": {"severity": ["critical"], "rules": ["fire_alarm"]}, "channels": ["fire"]},
         {"match": {"devices": ["pump-1"]}, "channels": ["pump"]}],
    )
    with IncidentStore(tmp_path / "incidents.sqlite3") as store:
        fire(store, site_id)  # critical fire alarm on facp-1: /fire only
        fire(store, site_id, "pump-1", Severity.MAJOR, rule="pump_power_fault")  # /pump only
        fire(store, site_id, "facp-1/L1-SD002", Severity.MAJOR, rule="device_fault")  # nobody
        async with running(site, store, tmp_path / "outbox.sqlite3") as service:
            await wait_for(lambda: service.stats().get("polls"))
            await wait_for(lambda: service.stats().get("sent") == 2)
    assert sorted((r.path, r.body["incident"]["rule"]) for r in http.requests) == [
        ("/fire", "fire_alarm"), ("/pump", "pump_power_fault")]


async def test_escalation_until_acknowledged_and_reminders(
    http: HttpReceiver, tmp_path: Path
) -> None:
    site_id = unique_site()
    clock = SimulatedClock()
    site = notify_site(
        site_id,
        [{"id": "duty", "type": "webhook", "url": http.url("/duty")},
         {"id": "boss", "type": "webhook", "url": http.url("/boss")}],
        [{"match": {"severity": ["critical"]}, "channels": ["duty"], "recipients": ["eng-a"],
          "repeat_minutes": 30,
          "escalation": [{"after_minutes": 5, "channels": ["boss"], "recipients": ["eng-b"]},
                         {"after_minutes": 15, "channels": ["boss"], "recipients": ["eng-c"]}]}],
    )
    with IncidentStore(tmp_path / "incidents.sqlite3", clock) as store:
        first = fire(store, site_id)
        second = fire(store, site_id, "facp-1/L1-SD002")
        async with running(site, store, tmp_path / "outbox.sqlite3", clock=clock) as service:
            await wait_for(lambda: service.stats().get("sent") == 2)
            await _poll_once(service, clock, 4)
            assert service.stats()["sent"] == 2  # not yet five minutes
            await _poll_once(service, clock, 1.5)
            assert [k for k in _kinds(http) if k[0] == "/boss"] == [("/boss", "escalation", 1)] * 2
            store.acknowledge(first.incident.id, by="op1")  # step 2 only for the second one
            await _poll_once(service, clock, 10)
            steps = [(r.body["incident"]["id"], r.body["alert"]["step"])
                     for r in http.requests if r.body["alert"]["kind"] == "escalation"]
            assert sorted(steps) == sorted([(first.incident.id, 1), (second.incident.id, 1),
                                            (second.incident.id, 2)])
            await _poll_once(service, clock, 15)  # 30.5 min: one reminder, unacked one only
            await _poll_once(service, clock, 1)  # a later poll in the same period: no repeat
            reminders = [r for r in http.requests if r.body["alert"]["kind"] == "repeat"]
            assert [r.body["incident"]["id"] for r in reminders] == [second.incident.id]
            assert reminders[0].body["text"].endswith("(reminder 1)")
            store.clear("fire_alarm", "facp-1/L1-SD002")
            await _poll_once(service, clock, 30)  # cleared, still unacked: reminders go on
            last = http.requests[-1].body
            assert (last["alert"]["kind"], last["alert"]["step"]) == ("repeat", 2)
            assert last["text"].endswith("cleared but unacknowledged (reminder 2)")
            store.acknowledge(second.incident.id, by="op1")
            await _poll_once(service, clock, 30)  # acknowledged: reminders stop
            total = len(http.requests)
            duplicates = service.stats()["duplicates"]
    assert total == 7
    assert duplicates > 0  # every poll re-derived the alerts already sent


async def test_a_fire_alarm_cleared_unacknowledged_still_escalates(
    http: HttpReceiver, tmp_path: Path
) -> None:
    site_id = unique_site()
    clock = SimulatedClock()
    site = notify_site(
        site_id,
        [{"id": "duty", "type": "webhook", "url": http.url("/duty")},
         {"id": "boss", "type": "webhook", "url": http.url("/boss")}],
        [{"match": {"rules": ["fire_alarm"]}, "channels": ["duty"], "recipients": ["eng-a"],
          "events": ["raised"],
          "escalation": [{"after_minutes": 5, "channels": ["boss"], "recipients": ["eng-b"]}]}],
    )
    with IncidentStore(tmp_path / "incidents.sqlite3", clock) as store:
        raised = fire(store, site_id)
        async with running(site, store, tmp_path / "outbox.sqlite3", clock=clock) as service:
            await wait_for(lambda: service.stats().get("sent") == 1)
            clock.advance(60)
            store.clear("fire_alarm", "facp-1/L1-SD001")  # the detector reset by itself
            assert store.get(raised.incident.id).state.value == "cleared_unacked"
            await _poll_once(service, clock, 5)
            escalations = [r for r in http.requests if r.path == "/boss"]
            assert [(r.body["alert"]["kind"], r.body["alert"]["step"]) for r in escalations] == [
                ("escalation", 1)]
            assert escalations[0].body["incident"]["state"] == "cleared_unacked"
            await _poll_once(service, clock, 5)  # the same step is not sent twice
            assert len([r for r in http.requests if r.path == "/boss"]) == 1


async def test_restart_with_alerts_pending_delivers_each_exactly_once(tmp_path: Path) -> None:
    site_id = unique_site()
    http = HttpReceiver()  # not started: the port refuses connections
    site = notify_site(
        site_id, [{"id": "hook", "type": "webhook", "url": http.url(), "timeout": 1}],
        [{"channels": ["hook"]}],
        retry={"max_attempts": 1000, "initial_seconds": 0.02, "max_seconds": 0.1},
        poll_seconds=0.05,
    )
    outbox = tmp_path / "outbox.sqlite3"
    with IncidentStore(tmp_path / "incidents.sqlite3") as store:
        ids = {fire(store, site_id, f"facp-1/L1-SD00{n}").incident.id for n in (1, 2, 3)}
        async with running(site, store, outbox) as service:
            await wait_for(lambda: service.stats().get("failed", 0) >= 3)
            assert service.stats()["pending"] == 3
        http.start()
        try:
            async with running(site, store, outbox) as restarted:
                await wait_for(lambda: restarted.stats().get("sent") == 3)
                polls = restarted.stats()["polls"]
                await wait_for(lambda: restarted.stats()["polls"] > polls + 2)
                stats = restarted.stats()
        finally:
            http.stop()
    assert sorted(r.body["incident"]["id"] for r in http.requests) == sorted(ids)
    assert stats["pending"] == 0
    assert stats.get("queued", 0) == 0  # everything came from the first run's outbox


async def test_failures_are_retried_and_counted(http: HttpReceiver, tmp_path: Path) -> None:
    http.status = 503
    site_id = unique_site()
    site = notify_site(
        site_id, [{"id": "hook", "type": "webhook", "url": http.url()}], [{"channels": ["hook"]}],
        retry={"max_attempts": 100, "initial_seconds": 0.01, "max_seconds": 0.05},
    )
    with IncidentStore(tmp_path / "incidents.sqlite3") as store:
        fire(store, site_id)
        async with running(site, store, tmp_path / "outbox.sqlite3") as service:
            await wait_for(lambda: service.stats().get("failed", 0) >= 3)
            http.status = 200
            await wait_for(lambda: service.stats().get("sent") == 1)
            await asyncio.sleep(0)
            stats = service.stats()
    assert stats["pending"] == 0
    assert stats.get("dead", 0) == 0
    assert len(http.requests) == stats["failed"] + 1


def test_config_error_names_the_path() -> None:
    with pytest.raises(ConfigError) as caught:
        notify_site(
            unique_site(),
            [{"id": "mail", "type": "smtp", "host": "127.0.0.1", "sender": "x@example.com"},
             {"id": "hook", "type": "webhook", "url": "ftp://nope"}],
            [{"channels": ["mail", "pager"], "recipients": ["eng-a"]}],
        )
    message = str(caught.value)
    assert "notifications.channels[1].webhook.url" in message
    with pytest.raises(ConfigError) as caught:
        notify_site(unique_site(), [], [{"channels": ["pager"]}])
    assert "routes[0].channels: unknown channel 'pager'" in str(caught.value)
