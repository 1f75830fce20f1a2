from __future__ import annotations

import pytest

from fireroom.codec import DataType
from fireroom.config import Site
from fireroom.domain import Quality
from fireroom.points import PointSpec
from gateway.decode import PointDecoder
from simulators.devices import SimulatedDevice, Value
from simulators.errors import SimulatorError
from simulators.facp import FacpPanel
from simulators.model import SiteModel


def _sample(spec: PointSpec) -> Value:
    """A value worth round-tripping for this point, in what `set` takes."""
    if spec.type in (DataType.BIT, DataType.COIL, DataType.DISCRETE):
        return True
    if spec.flags:
        return sorted(spec.flags.values())[:2]
    if spec.enum:
        return sorted(spec.enum.values())[-1]
    if spec.type is DataType.F32:
        return 45.25
    if spec.type is DataType.I16:
        return -5.5 * spec.scale * 10
    if spec.type in (DataType.U32, DataType.I32):
        return 123456 * spec.scale
    return 123 * spec.scale


def _decoded(device: SimulatedDevice, spec: PointSpec) -> object:
    words = device.blocks[spec.table].read(spec.address, spec.count)
    return PointDecoder(spec).decode(words)


def test_every_example_point_round_trips_through_the_gateway_decoder(example_site: Site) -> None:
    model = SiteModel(example_site)
    checked = 0
    for device_id, specs in example_site.points.items():
        device = model.device(device_id)
        for spec in specs:
            value = _sample(spec)
            if spec.transmitter is not None:
                middle = (spec.transmitter.low + spec.transmitter.high) / 2
                device.set_engineering(spec.name, middle)
                reading = PointDecoder(spec).decode(
                    device.blocks[spec.table].read(spec.address, spec.count)
                )
                assert reading.quality is Quality.GOOD
                assert reading.value == pytest.approx(middle, abs=spec.transmitter.high / 1000)
                assert device.get_engineering(spec.name) == pytest.approx(middle, abs=0.01)
                checked += 1
                continue
            device.set(spec.name, value)
            reading = PointDecoder(spec).decode(
                device.blocks[spec.table].read(spec.address, spec.count)
            )
            assert reading.quality is Quality.GOOD, spec.name
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert reading.value == pytest.approx(value, abs=spec.scale / 2), spec.name
            elif isinstance(value, list):
                assert isinstance(reading.value, list)
                assert sorted(reading.value) == sorted(value), spec.name
            else:
                assert reading.value == value, spec.name
            assert device.get(spec.name) == reading.value
            checked += 1
    assert checked == sum(len(specs) for specs in example_site.points.values())


def test_bits_of_one_register_are_independent(example_site: Site) -> None:
    device = SiteModel(example_site).device("pump-1")
    device.set("running", True)
    device.set("demand", True)
    device.set("running", False)
    assert device.get("demand") is True
    assert device.get("running") is False


def test_set_milliamps_reaches_namur_failure_band(example_site: Site) -> None:
    device = SiteModel(example_site).device("ai-1")
    device.set_milliamps("riser_top_pressure", 2.0)
    spec = device.spec("riser_top_pressure")
    reading = PointDecoder(spec).decode(device.blocks[spec.table].read(spec.address, 1))
    assert reading.quality is Quality.SENSOR_FAILED
    assert reading.raw == pytest.approx(2.0)


def test_held_points_survive_behaviour_updates(example_site: Site) -> None:
    model = SiteModel(example_site)
    device = model.device("ai-1")
    device.set_milliamps("riser_top_pressure", 2.0, hold=True)
    model.tick(0.1)
    assert device.get("riser_top_pressure") == pytest.approx(2.0)
    device.release("riser_top_pressure")
    model.tick(0.1)
    assert device.get("riser_top_pressure") != pytest.approx(2.0)


@pytest.mark.parametrize(
    ("point", "value", "message"),
    [
        ("mode", "standby", "not one of"),
        ("running", 1.0, "is a bit"),
        ("discharge_pressure", True, "not a bit"),
        ("alarms", ["flooded"], "flag 'flooded'"),
        ("nothing", 1.0, "no point 'nothing'"),
        ("discharge_pressure", 1000.0, "does not fit"),
    ],
)
def test_bad_values_are_refused_with_the_point_named(
    example_site: Site, point: str, value: Value, message: str
) -> None:
    device = SiteModel(example_site).device("pump-1")
    with pytest.raises((SimulatorError, ValueError), match=message):
        device.set(point, value)


def test_panel_rolls_point_states_up_into_the_system_word(example_site: Site) -> None:
    device = SiteModel(example_site).device("facp-1")
    panel = FacpPanel(device)
    assert device.get("system_status") == ["normal"]
    assert device.get("L2-SD001") == ["normal"]
    panel.set_point_state("L1-SD003", "fire")
    panel.set_point_state("L2-HD001", "fault")
    panel.set_point_state("L3-SD001", "disabled")
    assert device.get("L1-SD003") == ["fire"]
    assert device.get("system_status") == ["fire", "fault", "disabled"]
    assert (device.get("fire_count"), device.get("fault_count")) == (1, 1)
    assert device.get("disabled_count") == 1
    assert device.get("event_counter") == 3
    for point in ("L1-SD003", "L2-HD001", "L3-SD001"):
        panel.set_point_state(point, "normal")
    assert device.get("system_status") == ["normal"]
    assert device.get("event_counter") == 6
    with pytest.raises(SimulatorError, match="no panel point"):
        panel.set_point_state("system_status", "fire")
