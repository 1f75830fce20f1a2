"""The simulators' exception types.

    FireroomError
    ├── SimulatorError     a model was asked for something it does not have (point, value)
    └── ConfigError
        └── ScenarioError  a scenario file is invalid or does not fit the site
"""

from __future__ import annotations

from fireroom.errors import ConfigError, FireroomError

__all__ = ["ScenarioError", "SimulatorError"]


class SimulatorError(FireroomError):
    pass


class ScenarioError(ConfigError):
    pass
