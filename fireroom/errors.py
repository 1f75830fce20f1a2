"""fireroom's exception tree.

    FireroomError
    ├── ConfigError        a site config or profile is invalid (carries every problem found)
    ├── DeviceError        a field device failed to answer usefully (gateway drivers)
    │   ├── DeviceTimeout
    │   ├── DeviceException    the device answered with a Modbus exception code
    │   └── DeviceGarbage      the answer was malformed
    └── StoreError         the incident store refused an operation
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
