"""Which devices' next message must be full: asked by consumers, or after a message was lost.

A consumer that sees a gap in a device's `seq` knows nothing of that device until a full
message; it asks on `fireroom/v1/{site}/snapshot` with

    {"devices": ["panel-1", "pump-2"], "reason": "seq gap"}

(no `devices`, or an empty list, for every device). The payload comes from anyone who may
publish on the broker: a malformed one is ignored with a warning at most once a minute, never
allowed to stop the gateway. Devices that do not report by exception send full messages always.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import orjson

from fireroom.clock import Clock

__all__ = ["MAX_REQUEST_BYTES", "SnapshotRequests"]

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
_WARN_EVERY = 60.0


class SnapshotRequests:
    """Devices that report by exception and owe a full message.

    Args:
        known: every device id of the site, to tell a mistaken name from a device that
            reports every reading anyway.
        by_exception: the devices that report by exception.
        clock: monotonic time for limiting warnings.
    """

    def __init__(self, known: Collection[str], by_exception: Collection[str], clock: Clock) -> None:
        self.known = frozenset(known)
        self.by_exception = frozenset(by_exception)
        self.clock = clock
        self.ignored = 0  # requests ignored as malformed
        self._pending: set[str] = set()
        self._warned_at: float | None = None
        self._unwarned = 0

    def want(self, device: str) -> None:
        """Make `device`'s next message full (one of its messages was lost)."""
        if device in self.by_exception:
            self._pending.add(device)

    def take(self, device: str) -> bool:
        """Whether `device`'s next message must be full; asking answers it."""
        if device in self._pending:
            self._pending.discard(device)
            return True
        return False

    def request(self, payload: bytes) -> None:
        """Handle a snapshot request as received; never raises."""
        try:
            devices, reason = _parse(payload)
        except ValueError as exc:
            self.ignored += 1
            self._warn(f"snapshot request ignored: {exc}")
            return
        if not devices:
            self._pending |= self.by_exception
            log.debug("snapshot of every device requested: %s", reason or "no reason given")
            return
        unknown = [device for device in devices if device not in self.known]
        if unknown:
            self._warn(f"snapshot request names unknown devices {_shown(unknown)}: ignored")
        self._pending |= self.by_exception.intersection(devices)
        log.debug("snapshot of %s requested: %s", _shown(devices), reason or "no reason given")

    def _warn(self, message: str) -> None:
        now = self.clock.monotonic()
        if self._warned_at is not None and now - self._warned_at < _WARN_EVERY:
            self._unwarned += 1
            return
        if self._unwarned:
            message += f" ({self._unwarned} more not logged)"
        log.warning("%s", message)
        self._warned_at = now
        self._unwarned = 0


def _parse(payload: bytes) -> tuple[list[str], str]:
    if len(payload) > MAX_REQUEST_BYTES:
        raise ValueError(f"{len(payload)} bytes, more than {MAX_REQUEST_BYTES}")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 - one error type for callers
    devices = data.get("devices")
    reason = data.get("reason", "")
    if devices is None:
        devices = []
    if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
        raise ValueError("'devices' is not a list of device ids")
    if not isinstance(reason, str):
        raise ValueError("'reason' is not text")  # noqa: TRY004
    return devices, reason[:200]


def _shown(devices: list[str], most: int = 5) -> str:
    names = ", ".join(repr(device[:64]) for device in devices[:most])
    return names + (f" and {len(devices) - most} more" if len(devices) > most else "")
