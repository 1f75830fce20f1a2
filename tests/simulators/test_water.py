from __future__ import annotations

import pytest

from fireroom.config import Site
from simulators.model import SiteModel

HOUR = 36000  # ticks of 0.1 s


def _run(model: SiteModel, seconds: float) -> None:
    for _ in range(round(seconds * 10)):
        model.tick(0.1)


def test_healthy_site_stays_above_every_low_threshold_and_jockey_cycles(
    example_site: Site,
) -> None:
    model = SiteModel(example_site)
    ai = model.device("ai-1")
    jockey = model.pump("jockey-1")
    starts = jockey.starts
    lowest_main = lowest_riser = 9.0
    for _ in range(HOUR):
        model.tick(0.1)
        lowest_main = min(lowest_main, ai.get_engineering("main_pressure"))
        lowest_riser = min(lowest_riser, ai.get_engineering("riser_top_pressure"))
    assert 1 <= jockey.starts - starts <= 15  # a few starts an hour, no short cycling
    assert lowest_main > 0.50
    assert lowest_riser > 0.25
    assert model.device("pump-1").get("running") is False
    assert model.device("pump-1").get("alarms") == []
    assert ai.get_engineering("tank_level") == pytest.approx(3.2, abs=0.01)


def test_leak_decays_pressure_with_pumps_off(example_site: Site) -> None:
    model = SiteModel(example_site)
    assert model.water is not None
    for pump in ("pump-1", "jockey-1"):
        model.device(pump).set("mode", "off")
    before = model.water.pressure
    model.water.leak = 0.01
    _run(model, 10)
    assert model.water.pressure < before - 0.09
    assert model.device("jockey-1").get("running") is False


def test_main_pump_starts_on_demand_and_raises_pressure(example_site: Site) -> None:
    model = SiteModel(example_site)
    assert model.water is not None
    pump = model.device("pump-1")
    model.device("jockey-1").set("mode", "off")
    model.water.leak = 0.05
    _run(model, 5)
    assert pump.get("running") is True
    assert pump.get("demand") is True
    assert pump.get("start_cause") == "demand"
    assert pump.get("starts_total") == 62
    assert pump.get_engineering("current_l1") > 50
    model.water.leak = 0.0
    _run(model, 10)
    assert model.water.pressure > 0.85
    assert pump.get("discharge_pressure") == pytest.approx(
        model.water.pressure, abs=0.01
    )


def test_jockey_alone_restores_pressure_after_a_small_draw(example_site: Site) -> None:
    model = SiteModel(example_site)
    assert model.water is not None
    model.water.pressure = 0.50
    _run(model, 0.2)
    assert model.device("jockey-1").get("running") is True
    _run(model, 15)
    assert model.water.pressure >= 0.69
    assert model.device("jockey-1").get("running") is False
    assert model.device("pump-1").get("running") is False


def test_pump_that_fails_to_start_raises_its_alarm_after_20_s(example_site: Site) -> None:
    model = SiteModel(example_site)
    assert model.water is not None
    pump = model.device("pump-1")
    model.pump("pump-1").fail_to_start()
    model.water.leak = 0.05
    _run(model, 8)
    assert pump.get("demand") is True
    assert pump.get("running") is False
    assert pump.get("alarms") == []
    _run(model, 20)
    assert pump.get("alarms") == ["fail_to_start"]
    assert model.device("ai-1").get_engineering("main_pressure") < 0.30
