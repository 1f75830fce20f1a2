"""The monitoring chain as seen from outside the rules service: is the rules service alive and
well, is the broker reachable, which gateways beat.

The notifier and the API each keep one, fed by their own broker connection, so that something
other than the rules service says so when the rules service or the broker is gone (DESIGN.md,
"Failing safe"). While the broker is unreachable nothing is heard from anyone: the broker is
the problem then, and the rules service is not judged until the connection is back.
"""

from __future__ import annotations

from typing import Any, Literal

from fireroom.clock import Clock
from fireroom.heartbeat import Heartbeat, Watch

__all__ = ["RULES", "ChainWatch", "Problem"]

RULES = "rules"
Problem = Literal["rules", "broker"]


class ChainWatch:
    """Heartbeats heard and the watcher's own broker connection, judged on its clock.

    Args:
        clock: silence and outages are measured on its `monotonic()`.
        gone_after: seconds of silence (or of no broker) after which something is gone.
    """

    def __init__(self, clock: Clock, gone_after: float) -> None:
        self._clock = clock
        self.gone_after = gone_after
        self._watch = self._fresh_watch()
        self._connected = False
        self._lost_at = clock.monotonic()  # never connected counts from the start
        self._lost_why = "not connected yet"

    def _fresh_watch(self) -> Watch:
        watch = Watch(self._clock, self.gone_after)
        watch.expect(RULES, "rules")
        return watch

    def connected(self) -> None:
        # Heartbeats missed during the outage say nothing about the rules service: it gets a
        # fresh window, within which its retained heartbeat arrives.
        self._watch = self._fresh_watch()
        self._connected = True

    def disconnected(self, why: str) -> None:
        if self._connected:
            self._lost_at = self._clock.monotonic()
        self._connected = False
        self._lost_why = why

    def heard(self, heartbeat: Heartbeat) -> None:
        self._watch.heard(heartbeat)

    def broker_problem(self) -> str | None:
        if self._connected:
            return None
        silent = self._clock.monotonic() - self._lost_at
        if silent < self.gone_after:
            return None
        return f"the MQTT broker is unreachable ({self._lost_why}; for {silent:.0f} s)"

    def rules_problem(self) -> str | None:
        if not self._connected:
            return None
        gone = self._watch.gone(RULES)
        if gone is not None:
            return f"the rules service is gone ({gone})"
        degraded = self._watch.degraded(RULES)
        if degraded:
            return f"the rules service is failing ({degraded})"
        return None

    def rules_ok(self) -> bool:
        """Positively well: connected, heard within the window, not degraded."""
        return (
            self._connected
            and self._watch.last_heard(RULES) is not None
            and self.rules_problem() is None
        )

    def broker_ok(self) -> bool:
        return self._connected

    def problems(self) -> dict[Problem, str]:
        """What is down now, by part; empty while the chain is whole (or still in its window)."""
        found: dict[Problem, str] = {}
        if (broker := self.broker_problem()) is not None:
            found["broker"] = broker
        if (rules := self.rules_problem()) is not None:
            found["rules"] = rules
        return found

    def status(self) -> dict[str, Any]:
        """The chain as GET /monitoring reports it."""
        problems = self.problems()
        if problems:
            status = "down"
            message = ("Monitoring is down: " + "; ".join(problems.values())
                       + ": watch the fire alarm panel itself")
        elif self.rules_ok():
            status, message = "ok", "Monitoring is working"
        else:  # within the window: not heard yet, not gone yet
            status, message = "unknown", "Waiting to hear from the rules service"
        gateways = {
            name: self._process(name) for name in self._watch.processes("gateway")
        }
        return {
            "status": status,
            "message": message,
            "rules": {**self._process(RULES), "problem": problems.get("rules")},
            "broker": {
                "state": "connected" if self._connected else "unreachable",
                "problem": problems.get("broker"),
                "since_seconds": None if self._connected
                else round(self._clock.monotonic() - self._lost_at, 1),
            },
            "gateways": gateways,
        }

    def _process(self, name: str) -> dict[str, Any]:
        heard = self._watch.last_heard(name)
        gone = self._watch.gone(name)
        degraded = self._watch.degraded(name)
        if not self._connected or (heard is None and gone is None):
            state, gone = "unknown", None  # cut off from its heartbeats, or still in its window
        else:
            state = "gone" if gone else "degraded" if degraded else "alive"
        return {
            "state": state,
            "reason": gone or degraded or "",
            "last_heard_seconds": None if heard is None else round(heard, 1),
        }
