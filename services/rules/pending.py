"""Transitions the incident store has not taken yet: an alarm is known only once it is stored.

While anything is pending every new transition queues behind it, so the store receives them in
the order the engine decided them: a Clear never overtakes the Raise it ends. The store fails
as a whole (locked, full, read-only), so one failed write means the next would fail too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from fireroom.clock import Clock
from fireroom.errors import StoreError
from services.incidents import IncidentChange, IncidentStore
from services.rules.record import record_transition
from services.rules.transitions import Raise, Transition

__all__ = ["PendingWrites", "Recorder", "provisional_event"]

log = logging.getLogger("services.rules.service")

_NAMED: Final = 5  # alarms named in the heartbeat's degraded text
_REMIND_INTERVAL: Final = 30.0  # seconds between reminders that alarms are still not stored


class PendingWrites:
    """The transitions waiting for the store, oldest first."""

    def __init__(self) -> None:
        self._queue: deque[Transition] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def __iter__(self) -> Iterator[Transition]:
        return iter(self._queue)

    def add(self, transition: Transition) -> None:
        self._queue.append(transition)

    def snapshot(self) -> list[Transition]:
        """A copy to write from a worker thread while the loop may add more."""
        return list(self._queue)

    def done(self, count: int) -> None:
        """The oldest `count` transitions are stored."""
        for _ in range(count):
            self._queue.popleft()

    def raises(self) -> list[Raise]:
        return [t for t in self._queue if isinstance(t, Raise)]

    def describe(self) -> str:
        """What the heartbeat says while anything is pending; "" when nothing is."""
        if not self._queue:
            return ""
        raised = self.raises()
        names = ", ".join(f"{t.rule} {t.subject}" for t in raised[:_NAMED])
        if len(raised) > _NAMED:
            names += f" and {len(raised) - _NAMED} more"
        text = f"incident store failing: {len(raised)} alarm(s) not stored"
        if names:
            text += f": {names}"
        clears = len(self._queue) - len(raised)
        if clears:
            text += f" ({clears} clear(s) waiting)"
        return text


def provisional_event(site: str, transition: Raise) -> dict[str, Any]:
    """The incident event published at once for a raise the store has not taken yet."""
    return {
        "event": "raised",
        "stored": False,
        "incident": {
            "id": None,
            "site": site,
            "rule": transition.rule,
            "subject": transition.subject,
            "device": transition.device,
            "point": transition.point,
            "severity": transition.severity.value,
            "state": "active_unacked",
            "message": transition.message,
            "count": 1,
            "detail": transition.detail,
        },
    }


class Recorder:
    """Stores the engine's transitions in order and announces them; retries what failed.

    Args:
        store: the incident store.
        site: the site id.
        clock: paces the retries.
        stats: the service's counters.
        announce: given each incident event to publish (JSON-ready); must not block.
        changed: also given every stored change (InfluxDB); must not block.
        retry_min: first delay before retrying a failed write; doubles up to `retry_max`.
    """

    def __init__(
        self,
        store: IncidentStore,
        site: str,
        clock: Clock,
        stats: Counter[str],
        announce: Callable[[dict[str, Any]], None],
        *,
        changed: Callable[[list[IncidentChange]], None] | None = None,
        retry_min: float = 0.5,
        retry_max: float = 5.0,
    ) -> None:
        self.store = store
        self._site = site
        self._clock = clock
        self._stats = stats
        self._announce = announce
        self._changed = changed
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._pending = PendingWrites()
        # Ticks and messages both produce transitions; the lock (FIFO, taken before any await)
        # keeps them reaching the store and the topic in the order the engine decided them.
        self._lock = asyncio.Lock()
        self._failing = asyncio.Event()
        self._failing_since: float | None = None
        self._last_reminder = 0.0

    @property
    def pending(self) -> PendingWrites:
        return self._pending

    def degraded(self) -> str:
        """The heartbeat's `degraded` text: "" while every alarm is stored."""
        return self._pending.describe()

    async def apply(self, transitions: Sequence[Transition]) -> None:
        """Store and announce `transitions`, or keep them pending if the store fails."""
        self._stats["transitions"] += len(transitions)
        if self._pending:
            # The store is failing: announce at once rather than wait out its busy timeout.
            self._defer(transitions, None)
            return
        async with self._lock:
            if self._pending:
                self._defer(transitions, None)
                return
            # SQLite commits (fsync) would stall the message loop: write on a worker thread.
            changes, written, error = await asyncio.to_thread(self._write, list(transitions))
            self._stored(changes)
            if error is not None:
                self._defer(transitions[written:], error)

    async def run(self) -> None:
        """Retry pending writes with backoff until cancelled."""
        delay = self._retry_min
        while True:
            await self._failing.wait()
            await self._clock.sleep(delay)
            async with self._lock:
                batch = self._pending.snapshot()
                changes, written, error = await asyncio.to_thread(self._write, batch)
                self._pending.done(written)
                self._stored(changes)
            if self._pending:
                delay = min(delay * 2, self._retry_max)
                self._remind(error)
                continue
            self._failing.clear()
            delay = self._retry_min
            since = self._failing_since
            self._failing_since = None
            log.warning(
                "rules[%s]: incident store recovered after %.1f s: every alarm is stored",
                self._site,
                0.0 if since is None else self._clock.monotonic() - since,
            )

    def _write(
        self, transitions: list[Transition]
    ) -> tuple[list[IncidentChange], int, StoreError | None]:
        # Stops at the first failure: the rest must not overtake it.
        changes: list[IncidentChange] = []
        for index, transition in enumerate(transitions):
            try:
                change = record_transition(self.store, self._site, transition)
            except StoreError as exc:
                self._stats["store_errors"] += 1
                return changes, index, exc
            if change is not None:
                changes.append(change)
        return changes, len(transitions), None

    def _stored(self, changes: list[IncidentChange]) -> None:
        if not changes:
            return
        self._stats["changes"] += len(changes)
        if self._changed is not None:
            self._changed(changes)
        for change in changes:
            self._announce({**change.to_dict(), "stored": True})

    def _defer(self, transitions: Sequence[Transition], error: StoreError | None) -> None:
        if not transitions:
            return
        if self._failing_since is None:
            self._failing_since = self._clock.monotonic()
            self._last_reminder = self._failing_since
        for transition in transitions:
            self._pending.add(transition)
            self._stats["deferred"] += 1
            if isinstance(transition, Raise):
                log.critical(
                    "rules[%s]: ALARM NOT STORED: %s on %s (%s): %s; announced provisionally,"
                    " retrying",
                    self._site,
                    transition.rule,
                    transition.subject,
                    transition.message,
                    error or "the incident store is failing",
                )
                self._announce(provisional_event(self._site, transition))
        self._failing.set()

    def _remind(self, error: StoreError | None) -> None:
        now = self._clock.monotonic()
        if now - self._last_reminder >= _REMIND_INTERVAL:
            self._last_reminder = now
            log.critical("rules[%s]: %s (%s)", self._site, self.degraded(), error)
