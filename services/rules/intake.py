"""Telemetry as the rules service takes it in: checked, in sequence, reassembled.

A message that cannot be trusted to be this site's device is dropped and counted. A gap in a
device's `seq` means scans were lost on the way: what the device said before may have changed
unseen, so its reassembled state is forgotten and the gateway is asked for a snapshot.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection
from typing import Final

import orjson

from fireroom.clock import Clock
from fireroom.telemetry import (
    MAX_PAYLOAD_BYTES,
    Reassembly,
    SeqGaps,
    Telemetry,
    TelemetryError,
    decode,
)

__all__ = ["Intake", "Rejected"]

log = logging.getLogger("services.rules.service")

_REJECT_LOG_INTERVAL: Final = 10.0  # seconds between log lines per rejection reason
_SNAPSHOT_INTERVAL: Final = 1.0  # seconds between snapshot requests for one device


class Rejected(Exception):
    """A telemetry message dropped: not this site's device, or not telemetry at all."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class Intake:
    """Checks one site's telemetry messages and follows each device's sequence.

    Args:
        site: the site id messages must name.
        devices: the ids of the site's devices.
        clock: paces log lines and snapshot requests.
        stats: the service's counters (rejected_<reason>, seq_gaps, accepted, readings...).
    """

    def __init__(
        self, site: str, devices: Collection[str], clock: Clock, stats: Counter[str]
    ) -> None:
        self._site = site
        self._devices = devices
        self._clock = clock
        self._stats = stats
        # Devices that report by exception send changes; the rules see every point each scan,
        # so hold times run on as they would with full messages.
        self._reassembly = Reassembly()
        self._gaps = SeqGaps()
        self._last_request: dict[str, float] = {}
        self._last_reject_log: dict[str, float] = {}

    def take(self, topic: str, device: str, payload: object) -> tuple[Telemetry, bytes | None]:
        """The complete message, and a snapshot request to publish if scans were lost.

        Raises Rejected, already counted and logged, for a message to drop.
        """
        try:
            telemetry = self._accept(topic, device, payload)
        except Rejected as exc:
            self._reject(exc)
            raise
        request = None
        gap = self._gaps.check(telemetry)
        if gap is not None:
            self._stats["seq_gaps"] += 1
            self._stats["seq_lost"] += gap[1] - gap[0] - 1
            self._reassembly.gap(telemetry.site, telemetry.device)
            request = self._snapshot_request(device, gap)
        telemetry = self._reassembly.complete(telemetry)
        self._stats["accepted"] += 1
        self._stats["readings"] += len(telemetry.readings)
        return telemetry, request

    def _snapshot_request(self, device: str, gap: tuple[int, int]) -> bytes | None:
        now = self._clock.monotonic()
        last = self._last_request.get(device)
        if last is not None and now - last < _SNAPSHOT_INTERVAL:
            return None
        self._last_request[device] = now
        reason = f"seq gap {gap[0]}→{gap[1]}"
        log.warning("rules[%s]: %s lost scans (%s): asking for a snapshot", self._site, device,
                    reason)
        self._stats["snapshot_requests"] += 1
        return orjson.dumps({"devices": [device], "reason": reason})

    def _accept(self, topic: str, topic_device: str, payload: object) -> Telemetry:
        if isinstance(payload, str):
            payload = payload.encode()
        if not isinstance(payload, (bytes, bytearray)):
            raise Rejected("malformed", f"{topic}: payload is not bytes")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise Rejected(
                "oversized", f"{topic}: {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}"
            )
        try:
            telemetry = decode(bytes(payload))
        except TelemetryError as exc:
            raise Rejected("malformed", f"{topic}: {exc}") from exc
        if telemetry.site != self._site:
            raise Rejected("wrong_site", f"{topic}: payload names site {telemetry.site!r}")
        if telemetry.device != topic_device:
            raise Rejected(
                "device_mismatch", f"{topic}: payload names device {telemetry.device!r}"
            )
        if telemetry.device not in self._devices:
            raise Rejected("unknown_device", f"{topic}: device not in the site config")
        return telemetry

    def _reject(self, exc: Rejected) -> None:
        self._stats["rejected"] += 1
        self._stats[f"rejected_{exc.reason}"] += 1
        now = self._clock.monotonic()
        last = self._last_reject_log.get(exc.reason)
        if last is None or now - last >= _REJECT_LOG_INTERVAL:
            self._last_reject_log[exc.reason] = now
            log.warning(
                "rules[%s]: dropped telemetry (%s, %d so far): %s",
                self._site,
                exc.reason,
                self._stats[f"rejected_{exc.reason}"],
                exc,
            )
