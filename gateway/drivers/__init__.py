"""Device drivers: each turns a `ReadRequest` into words or bits, or a `DeviceError`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.planner import ReadRequest

__all__ = ["Driver"]


class Driver(Protocol):
    """What a poller needs from a driver; drivers never write to devices."""

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> None:
        """Open the connection or raise `DeviceError`/`DeviceTimeout`."""
        ...

    async def read(self, request: ReadRequest) -> Sequence[int]:
        """Exactly `request.count` registers or bits, or raise a `DeviceError`."""
        ...

    def close(self) -> None: ...
