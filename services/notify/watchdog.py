"""The notifier's own `monitoring_degraded` incidents: raised when the rules service or the
broker is gone, cleared when they are back, alerted through the normal plan and outbox.

The rules service cannot report its own death, and nothing on the broker can report the
broker's: the notifier writes these incidents to the incident store itself. If the store fails
too, the alert still goes out, provisionally (`"stored": false`), as the rules service does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fireroom.domain import Severity
from fireroom.errors import StoreError
from services.incidents import IncidentStore
from services.notify.chain import ChainWatch, Problem
from services.notify.outbox import Alert
from services.rules.transitions import MONITORING_DEGRADED

__all__ = ["MonitoringIncidents", "message"]

log = logging.getLogger(__name__)
Queue = Callable[[list[Alert]], Awaitable[None]]
Plan = Callable[[dict[str, Any]], list[Alert]]
_PARTS: tuple[Problem, ...] = ("rules", "broker")


def message(problem: str) -> str:
    return f"Monitoring is down: {problem}: watch the fire alarm panel itself"


class MonitoringIncidents:
    """Args: the site, the incident store, the chain watched, how alerts are planned and queued."""

    def __init__(
        self, site: str, store: IncidentStore, chain: ChainWatch, *, plan: Plan, queue: Queue
    ) -> None:
        self._site = site
        self._store = store
        self._chain = chain
        self._plan = plan
        self._queue = queue
        self._raised: set[Problem] = set()
        # Parts not yet seen well or raised: an incident an earlier run left open is cleared
        # once the part is known to be well.
        self._unsure: set[Problem] = set(_PARTS)
        self._alerted: set[Problem] = set()  # provisional alerts sent while the store fails

    async def check(self) -> None:
        problems = self._chain.problems()
        well = {"rules": self._chain.rules_ok(), "broker": self._chain.broker_ok()}
        for part in _PARTS:
            subject = f"{self._site}/{part}"
            problem = problems.get(part)
            if problem is not None and part not in self._raised:
                if await self._raise(part, subject, problem):
                    self._raised.add(part)
                    self._unsure.discard(part)
            elif (
                problem is None and well[part] and part in self._raised | self._unsure
                and await self._clear(subject)
            ):
                self._raised.discard(part)
                self._unsure.discard(part)
                self._alerted.discard(part)

    async def _raise(self, part: Problem, subject: str, problem: str) -> bool:
        if part not in self._alerted:
            log.error("%s: %s", self._site, message(problem))
        try:
            change = await asyncio.to_thread(
                self._store.raise_incident, site=self._site, rule=MONITORING_DEGRADED,
                subject=subject, severity=Severity.CRITICAL, message=message(problem),
                detail={"problem": problem},
            )
        except StoreError as exc:
            if part not in self._alerted:
                log.error("%s: cannot store the monitoring incident (%s): alerting anyway",
                          self._site, exc)
                await self._queue(self._plan(self._provisional(subject, problem)))
                self._alerted.add(part)
            return False
        self._alerted.add(part)
        if change.changed:
            await self._queue(self._plan(change.to_dict()))
        return True

    async def _clear(self, subject: str) -> bool:
        try:
            change = await asyncio.to_thread(self._store.clear, MONITORING_DEGRADED, subject)
        except StoreError as exc:
            log.warning("%s: cannot clear %s yet: %s", self._site, subject, exc)
            return False
        if change is not None:
            log.warning("%s: monitoring recovered: %s", self._site, subject)
            await self._queue(self._plan(change.to_dict()))
        return True

    def _provisional(self, subject: str, problem: str) -> dict[str, Any]:
        return {
            "event": "raised",
            "stored": False,
            "incident": {
                "id": None, "site": self._site, "rule": MONITORING_DEGRADED, "subject": subject,
                "device": None, "point": None, "severity": Severity.CRITICAL.value,
                "state": "active_unacked", "message": message(problem), "count": 1,
                "detail": {"problem": problem},
            },
        }
