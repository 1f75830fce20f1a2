"""Applying a scenario step: to the behaviour models, a Modbus server or an MQTT publisher."""

from __future__ import annotations

from simulators.errors import SimulatorError
from simulators.model import SiteModel
from simulators.mqtt_device import MqttDeviceSimulator
from simulators.scenario import MODBUS_ONLY, Action, Step
from simulators.server import ServedDevice

__all__ = ["SERVER_ACTIONS", "apply_to_model", "apply_to_publisher", "apply_to_server"]

# Steps about how a device answers on the network, applied by the runtime to its server (or,
# for a device that publishes MQTT, to its publisher).
SERVER_ACTIONS = frozenset({Action.SILENT, Action.ANSWER, Action.EXCEPTION, Action.DELAY})


def apply_to_server(served: ServedDevice, step: Step) -> None:
    action = step.action
    if action is Action.SILENT:
        served.silence()
    elif action is Action.ANSWER:
        served.answer()
    elif action is Action.EXCEPTION:
        assert step.code is not None  # Step validates it
        served.fail_with(step.code)
    elif action is Action.DELAY:
        assert step.seconds is not None  # Step validates it
        served.delay_by(step.seconds)
    else:
        raise SimulatorError(f"action {action.value!r} is not about how a device answers")


def apply_to_publisher(publisher: MqttDeviceSimulator, step: Step) -> None:
    """Silence or resume a device that publishes MQTT: it has no requests to answer."""
    action = step.action
    if action in MODBUS_ONLY:
        raise SimulatorError(
            f"action {action.value!r} is a Modbus answer; {publisher.device.id!r} publishes MQTT"
        )
    if action is Action.SILENT:
        publisher.silence()
    elif action is Action.ANSWER:
        publisher.resume()
    else:
        raise SimulatorError(f"action {action.value!r} is not about how a device answers")


def apply_to_model(model: SiteModel, step: Step) -> None:
    action, value = step.action, step.value
    if action in SERVER_ACTIONS:
        raise SimulatorError(f"action {action.value!r} needs a running server")
    if action is Action.LEAK:
        if model.water is None:
            raise SimulatorError("this site simulates no water system")
        assert isinstance(value, (int, float))  # Step validates it
        model.water.leak = float(value)
        return
    assert step.device is not None  # Step validates it
    device = model.device(step.device)
    point = step.point or ""
    if action is Action.SET:
        assert value is not None
        device.set(point, value, hold=True)
    elif action is Action.SET_MILLIAMPS:
        assert isinstance(value, (int, float))
        device.set_milliamps(point, float(value), hold=True)
    elif action is Action.SET_ENGINEERING:
        assert isinstance(value, (int, float))
        device.set_engineering(point, float(value), hold=True)
    elif action is Action.RELEASE:
        device.release(point)
    elif action is Action.POINT_STATE:
        model.panel(step.device).set_point_state(point, str(value))
    elif action is Action.POINTS_STATE:
        panel = model.panel(step.device)
        for name in step.points or ():
            panel.set_point_state(name, str(value))
    elif action is Action.PUMP_FAIL_TO_START:
        pump = model.pump(step.device)
        if step.seconds is None:
            pump.fail_to_start()
        else:
            pump.fail_to_start(step.seconds)
    elif action is Action.PUMP_RUN:
        assert step.seconds is not None
        model.pump(step.device).run_for(step.seconds, str(value or "manual"))
    elif action is Action.WEEKLY_TEST:
        model.pump(step.device).run_for(step.seconds or 600.0, "test")
    elif action is Action.PUMP_NO_PRESSURE:
        model.pump(step.device).no_pressure = True
    else:  # pragma: no cover - every Action is handled above or by the runtime
        raise SimulatorError(f"unknown action {action.value!r}")
