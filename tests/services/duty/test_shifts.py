"""Shift patterns: validation, which shift a moment is in, and the README example."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from fireroom.shifts import ShiftsConfig, shift_at

ZONE = ZoneInfo("Asia/Shanghai")
README = Path(__file__).resolve().parents[3] / "README.md"


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp()


@pytest.mark.parametrize(
    ("moment", "start", "end"),
    [
        ("2025-03-01T07:59:59", "2025-03-01T00:00:00", "2025-03-01T08:00:00"),
        ("2025-03-01T08:00:00", "2025-03-01T08:00:00", "2025-03-01T16:00:00"),
        ("2025-03-01T23:30:00", "2025-03-01T16:00:00", "2025-03-02T00:00:00"),
    ],
)
def test_shift_at(moment: str, start: str, end: str) -> None:
    shift = shift_at(ShiftsConfig(), _at(moment), ZONE)
    assert (shift.start, shift.end) == (_at(start), _at(end))


def test_twelve_hour_shifts_across_midnight() -> None:
    config = ShiftsConfig(pattern=["20:00", "08:00"])
    shift = shift_at(config, _at("2025-03-02T03:00:00"), ZONE)
    assert (shift.start, shift.end) == (_at("2025-03-01T20:00:00"), _at("2025-03-02T08:00:00"))


@pytest.mark.parametrize(
    "given",
    [{"pattern": ["8:00"]}, {"pattern": ["24:00"]}, {"pattern": ["08:00", "08:00"]},
     {"pattern": []}, {"min_operators": 0}, {"handover_within_minutes": 0}, {"shift": 1}],
)
def test_bad_shift_config(given: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ShiftsConfig.model_validate(given)


def test_the_readme_example_is_valid() -> None:
    section = README.read_text(encoding="utf-8").split("## Operators, shifts and handover")[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = ShiftsConfig.model_validate(yaml.safe_load(example)["shifts"])
    assert config == ShiftsConfig()
