"""Watching the site's gateways by their heartbeats: a gone gateway means no device is read.

A gateway that is gone reads nothing, so every device behind it would drift into comm_loss one
by one, or not at all if its silence looks like a quiet board. `monitoring_degraded` says the
real thing at once: monitoring is down, watch the panel itself.
"""

from __future__ import annotations

import logging
from typing import Final

from fireroom import heartbeat
from fireroom.clock import Clock
from fireroom.domain import Severity
from services.rules.transitions import MONITORING_DEGRADED, Clear, Raise, Transition

__all__ = ["GatewayWatch"]

log = logging.getLogger("services.rules.service")

_GARBAGE_LOG_INTERVAL: Final = 10.0  # seconds between warnings about bad heartbeats


def _why(gone: str) -> str:
    # Watch says "offline (connection lost)"; the incident reads better as "offline: ...".
    if gone.startswith("offline (") and gone.endswith(")"):
        return "offline: " + gone[len("offline (") : -1]
    return gone


class GatewayWatch:
    """Raises and clears `monitoring_degraded` for each gateway of one site.

    Args:
        site: the site id; incidents are on `{site}/{gateway id}`.
        clock: silence is measured on its `monotonic()`.
        gone_after: seconds without a heartbeat after which a gateway is gone.
        expect: gateways counted gone if never heard within `gone_after` from now.
    """

    def __init__(
        self, site: str, clock: Clock, *, gone_after: float, expect: tuple[str, ...] = ()
    ) -> None:
        self._site = site
        self._clock = clock
        self._gone_after = gone_after
        self._watch = heartbeat.Watch(clock, gone_after=gone_after)
        for gateway in expect:
            self._watch.expect(gateway, "gateway")
        self._active: set[str] = set()
        self._last_garbage_log: float | None = None
        self.garbage = 0

    def subject(self, gateway: str) -> str:
        return f"{self._site}/{gateway}"

    def restore(self, subject: str) -> bool:
        """Take over an active incident from before a restart; False if it is not ours."""
        site, _, gateway = subject.partition("/")
        if site != self._site or not gateway or "/" in gateway:
            return False
        self._watch.expect(gateway, "gateway")
        self._active.add(gateway)
        return True

    def heard(self, process: str, payload: bytes, *, retained: bool = False) -> list[Transition]:
        """A message on `heartbeat/{process}`; what it changes.

        A retained `offline` may be a last word from long ago, from a gateway about to beat
        again (a restart): it starts the window instead of counting as gone at once.
        """
        try:
            beat = heartbeat.decode(payload)
        except ValueError as exc:
            self._garbage(process, str(exc))
            return []
        if beat.process != process:
            self._garbage(process, f"heartbeat of {beat.process!r} on the topic of {process!r}")
            return []
        if retained and beat.state == "offline":
            self._watch.expect(process, beat.kind)
            return []
        self._watch.heard(beat)
        return self.check() if beat.kind == "gateway" else []

    def check(self) -> list[Transition]:
        """Raise for gateways newly gone, clear for those back."""
        out: list[Transition] = []
        for gateway in self._watch.processes("gateway"):
            gone = self._watch.gone(gateway)
            if gone is not None and gateway not in self._active:
                self._active.add(gateway)
                why = _why(gone)
                log.critical("rules[%s]: gateway %s is gone (%s)", self._site, gateway, why)
                out.append(
                    Raise(
                        MONITORING_DEGRADED,
                        self.subject(gateway),
                        Severity.CRITICAL,
                        f"Gateway {gateway} is gone ({why}): devices are not being read"
                        " — watch the panel itself",
                        {"gateway": gateway, "reason": why, "gone_after_seconds": self._gone_after},
                    )
                )
            elif (
                gone is None
                and gateway in self._active
                and self._watch.last_heard(gateway) is not None  # restored: wait to hear it
            ):
                self._active.discard(gateway)
                log.warning("rules[%s]: gateway %s is back", self._site, gateway)
                out.append(Clear(MONITORING_DEGRADED, self.subject(gateway)))
        return out

    def _garbage(self, process: str, why: str) -> None:
        self.garbage += 1
        now = self._clock.monotonic()
        last = self._last_garbage_log
        if last is None or now - last >= _GARBAGE_LOG_INTERVAL:
            self._last_garbage_log = now
            log.warning(
                "rules[%s]: ignored a heartbeat on %s (%d so far): %s",
                self._site,
                process,
                self.garbage,
                why,
            )
