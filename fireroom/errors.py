"""fireroom's exception tree.

    FireroomError
    ├── ConfigError        a site config or profile is invalid (carries every problem found)
    ├── DeviceError        a field device failed to answer usefully (gateway drivers)
    │   ├── DeviceTimeout
    │   ├── DeviceException    the device answered with a Modbus exception code
    │   └── DeviceGarbage      the answer was malformed
    ├── StoreError         the incident store refused an operation
    └── SinkError          telemetry could not be kept or sent to InfluxDB
        ├── InfluxUnavailable  unreachable, timed out or busy (5xx, 429): retry later
        ├── InfluxRefused      the server refuses us (401, 403, 404): retry, someone must act
        ├── InfluxRejected     the batch itself is bad (400, 422): set it aside
        │   └── InfluxTooLarge     the batch is too large (413): split it
        └── SpoolError         the disk buffer failed (SQLite error, disk full)
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "DeviceError",
    "DeviceException",
    "DeviceGarbage",
    "DeviceTimeout",
    "FireroomError",
    "InfluxRefused",
    "InfluxRejected",
    "InfluxTooLarge",
    "InfluxUnavailable",
    "SinkError",
    "SpoolError",
    "StoreError",
]

from dataclasses import dataclass


class FireroomError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(FireroomError):
    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


class DeviceError(FireroomError):
    pass


class DeviceTimeout(DeviceError):
    pass


class DeviceException(DeviceError):
    def __init__(self, message: str, code: int) -> None:
        self.code = code
        super().__init__(message)


class DeviceGarbage(DeviceError):
    pass


class StoreError(FireroomError):
    pass


class SinkError(FireroomError):
    pass


class InfluxUnavailable(SinkError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After)
        super().__init__(message)


class InfluxRefused(SinkError):
    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(message)


class InfluxRejected(SinkError):
    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(message)


class InfluxTooLarge(InfluxRejected):
    pass


class SpoolError(SinkError):
    pass
