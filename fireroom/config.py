"""Site config: one YAML file per site, validated once at start.

`load_site` parses the YAML, validates it with pydantic, resolves every device's points against
its profile and returns a `Site`; every problem found is reported at once with its path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from fireroom.errors import ConfigError, ConfigProblem
from fireroom.jsonpath import parse_path
from fireroom.notify_config import NotificationsConfig
from fireroom.obligation_binding import bind_site
from fireroom.obligations import ObligationsConfig
from fireroom.points import PointSpec, _PointFields
from fireroom.profiles import BUILTIN_PROFILES, Profile, load_profiles
from fireroom.shifts import ShiftsConfig
from fireroom.validation import problems_from

__all__ = [
    "DeviceConfig",
    "FastLane",
    "Line",
    "MonitoringConfig",
    "MqttConfig",
    "MqttTransport",
    "Nonconforming",
    "PumpSettings",
    "ReportSettings",
    "RtuOverTcpLine",
    "RtuTransport",
    "RulesConfig",
    "SerialLine",
    "ShelvingConfig",
    "Site",
    "SiteConfig",
    "TcpTransport",
    "load_site",
    "parse_site",
]

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Seconds = Annotated[float, Field(gt=0, le=86400)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteInfo(_Strict):
    id: Ident
    name: str = ""
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class MqttConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password: str | None = None
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30

    def with_environment(self, environ: dict[str, str] | None = None) -> MqttConfig:
        """Override from FIREROOM_MQTT_URL (mqtt://user:pass@host:port) or _HOST/_PORT."""
        env = os.environ if environ is None else environ
        update: dict[str, Any] = {}
        if url := env.get("FIREROOM_MQTT_URL"):
            parsed = urlparse(url)
            if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
                raise ConfigError(
                    "FIREROOM_MQTT_URL", [ConfigProblem("", f"{url!r} is not mqtt://host:port")]
                )
            update["host"] = parsed.hostname
            update["port"] = parsed.port or 1883
            if parsed.username:
                update["username"] = parsed.username
                update["password"] = parsed.password
        if host := env.get("FIREROOM_MQTT_HOST"):
            update["host"] = host
        if port := env.get("FIREROOM_MQTT_PORT"):
            if not port.isdigit():
                raise ConfigError(
                    "FIREROOM_MQTT_PORT", [ConfigProblem("", f"{port!r} is not a port number")]
                )
            update["port"] = int(port)
        return self.model_copy(update=update)


Port = Annotated[int, Field(ge=1, le=65535)]


class TcpTransport(_Strict):
    """Modbus TCP: one connection per device."""

    type: Literal["tcp"] = "tcp"
    host: str
    port: Port = 502

    def describe(self) -> str:
        return f"tcp {self.host}:{self.port}"


class RtuTransport(_Strict):
    """Modbus RTU on one of the site's `lines`, shared with the other unit ids on that line."""

    type: Literal["rtu"] = "rtu"
    line: Ident

    def describe(self) -> str:
        return f"rtu line {self.line}"


class MqttTransport(_Strict):
    """A device that publishes its own JSON: every message on `topic` belongs to this device.

    `topic` is an MQTT filter (`+` and `#` allowed); points give a `path` into the JSON.
    `broker` is the site's broker unless given.
    """

    type: Literal["mqtt"] = "mqtt"
    topic: str
    broker: MqttConfig | None = None

    @field_validator("topic")
    @classmethod
    def _filter(cls, value: str) -> str:
        levels = value.split("/")
        if not value or any("\x00" in level for level in levels):
            raise ValueError(f"{value!r} is not an MQTT topic filter")
        for index, level in enumerate(levels):
            if "#" in level and (level != "#" or index != len(levels) - 1):
                raise ValueError(f"'#' must be a whole last level, not in {value!r}")
            if "+" in level and level != "+":
                raise ValueError(f"'+' must be a whole level, not in {value!r}")
        return value

    def describe(self) -> str:
        return f"mqtt {self.topic}"


Transport = Annotated[TcpTransport | RtuTransport | MqttTransport, Field(discriminator="type")]


class _Line(_Strict):
    id: Ident
    # Silence between the end of one frame and the next request, in seconds. RTU needs at least
    # 3.5 character times; slow devices and radio links often want more.
    inter_frame_delay: Annotated[float, Field(ge=0, le=1)] | None = None
    timeout: Seconds = 1.0  # default answer timeout of the line's devices


class SerialLine(_Line):
    """An RS-485 line on a local serial port; several unit ids share it, one request at a time."""

    type: Literal["serial"] = "serial"
    port: str  # /dev/ttyUSB0, /dev/serial/by-id/...
    baudrate: Annotated[int, Field(ge=300, le=921600)] = 9600
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1

    def frame_gap(self) -> float:
        """The inter-frame delay: as configured, else 3.5 characters (1.75 ms above 19200 Bd)."""
        if self.inter_frame_delay is not None:
            return self.inter_frame_delay
        if self.baudrate > 19200:
            return 0.00175
        bits_per_char = 1 + self.bytesize + (self.parity != "N") + self.stopbits
        return 3.5 * bits_per_char / self.baudrate

    def describe(self) -> str:
        return f"serial {self.port} {self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"


class RtuOverTcpLine(_Line):
    """A serial server (RS-485 to Ethernet) passing RTU frames through a TCP connection."""

    type: Literal["rtu-over-tcp"] = "rtu-over-tcp"
    host: str
    port: Port = 502

    def frame_gap(self) -> float:
        # The serial server times the frames on its own wire; add only what is configured.
        return self.inter_frame_delay or 0.0

    def describe(self) -> str:
        return f"rtu-over-tcp {self.host}:{self.port}"


Line = Annotated[SerialLine | RtuOverTcpLine, Field(discriminator="type")]


class ReportSettings(_Strict):
    """What the gateway publishes of each scan.

    With `by_exception`, a scan's message carries only the readings that changed: a state or a
    quality that differs, a number that moved more than its point's `deadband` (or this
    `deadband`). Every `integrity_seconds` a message carries every reading (`"full": true`), so
    a consumer that joins late learns everything. Lost devices are always reported in full.
    """

    by_exception: bool = False
    deadband: Annotated[float, Field(ge=0)] = 0.0
    integrity_seconds: Seconds = 60.0


class DevicePoint(_PointFields):
    """A device's own point: complete, or an `index` into the profile's point template."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")]
    address: Annotated[int, Field(ge=0, le=65535)] | None = None
    index: Annotated[int, Field(ge=0)] | None = None


class PumpSettings(_Strict):
    """What a pump controller drives: the rules treat a jockey pump and a fire pump differently."""

    kind: Literal["main", "jockey"] = "main"
    rated_kw: Annotated[float, Field(gt=0)] | None = None  # picks the fail-to-start timeout


class FastLane(_Strict):
    """Alarm-bearing points read more often than the rest of their device.

    The panel's system status word polled every 0.25 s puts a fire on the board well inside
    GB 25506's 10 s while the thousands of detector words keep the device's own interval.
    """

    points: Annotated[list[str], Field(min_length=1)]
    interval: Annotated[float, Field(ge=0.05, le=86400)] = 0.25


class DeviceConfig(_Strict):
    id: Ident
    name: str = ""
    profile: str
    transport: Transport
    unit_id: Annotated[int, Field(ge=0, le=247)] = 1
    # For MQTT devices: the interval they are expected to publish at (comm-lost after 3).
    poll_interval: Seconds = 1.0
    timeout: Seconds = 1.0
    max_registers: Annotated[int, Field(ge=1, le=125)] = 125
    max_bits: Annotated[int, Field(ge=1, le=2000)] = 2000
    # Unread registers (bits) a request may span to merge two reads into one. A device that
    # answers "illegal address" for a merged read has it split up again by itself.
    max_gap: Annotated[int, Field(ge=0, le=124)] = 8
    max_bit_gap: Annotated[int, Field(ge=0, le=1999)] = 64
    report: ReportSettings = ReportSettings()
    points: list[DevicePoint] = []
    pump: PumpSettings | None = None  # for pump controllers: what the pump is
    fast_lane: FastLane | None = None  # alarm points polled faster than the device
    # This device's own rule settings, merged over the site's `rules:` section key by key,
    # e.g. {system_in_manual: {enabled: false}} or {pump_fail_to_start: {start_timeout: 40}}.
    rules: dict[str, dict[str, Any]] = {}


class CommLossRule(_Strict):
    enabled: bool = True
    intervals: Annotated[float, Field(ge=1)] = 3
    cap_seconds: Seconds = 100


class LowPressureRule(_Strict):
    enabled: bool = True
    threshold: float = 0.25  # MPa, used where a pressure point sets no low_limit
    hold_seconds: Annotated[float, Field(ge=0)] = 5
    hysteresis: Annotated[float, Field(ge=0)] = 0.02


class SimpleRule(_Strict):
    enabled: bool = True


# Durations up to 30 days: an isolation may be tolerated for a week before it escalates.
LongSeconds = Annotated[float, Field(gt=0, le=30 * 86400)]
NonNegative = Annotated[float, Field(ge=0)]


class HighPressureRule(_Strict):
    enabled: bool = True
    # MPa, used where a pressure point sets no high_limit. DOMAIN.md gives no figure: 1.2 MPa
    # sits above the churn pressure of typical building systems and below PN16 pipework.
    threshold: float = 1.2
    hold_seconds: NonNegative = 5
    hysteresis: NonNegative = 0.02


class SystemInManualRule(_Strict):
    enabled: bool = True
    # A panel's linkage or a pump controller in manual/off for this long raises the incident.
    # Devices under an open work order can be left out with a device-level
    # `rules: {system_in_manual: {enabled: false}}` until work orders exist.
    after_seconds: LongSeconds = 600


class PumpFailToStartRule(_Strict):
    enabled: bool = True
    # Seconds from demand or start command to a run: < 30 s up to 132 kW, < 55 s above.
    start_timeout: Seconds = 30
    large_start_timeout: Seconds = 55
    large_kw: Annotated[float, Field(gt=0)] = 132


class PumpPowerFaultRule(_Strict):
    enabled: bool = True
    # The pump controller alarm flags that mean the pump has no (usable) supply.
    flags: list[str] = [
        "power_loss",
        "phase_loss_l1",
        "phase_loss_l2",
        "phase_loss_l3",
        "phase_reversal",
        "control_voltage_unhealthy",
    ]


class PressureDecayRule(_Strict):
    enabled: bool = True
    # MPa per minute. DOMAIN.md gives no figure; a healthy main loses ~0.02 MPa/min (the jockey
    # then starts a few times an hour), and 0.03 MPa/min empties a 0.15 MPa jockey band in 5 min.
    rate: Annotated[float, Field(gt=0)] = 0.03
    hysteresis: NonNegative = 0.005
    window_seconds: Seconds = 600  # the longest stretch the rate is measured over
    min_seconds: Seconds = 120  # the shortest stretch with every pump stopped worth judging
    settle_seconds: NonNegative = 60  # after a pump stops, the pressure settles first
    # MPa: a rise larger than this with every pump seen stopped means water came in anyway
    # (a pump ran between two polls, the town supply): the measurement starts over.
    rise_tolerance: NonNegative = 0.02


class JockeyShortCyclingRule(_Strict):
    enabled: bool = True
    max_starts_per_hour: Annotated[int, Field(ge=1, le=1000)] = 15
    hysteresis_starts: Annotated[int, Field(ge=0)] = 3
    max_run_seconds: LongSeconds = 600


class SensorOutOfRangeRule(_Strict):
    enabled: bool = True
    hold_seconds: NonNegative = 30  # a value near the band edge must not flap an incident


class SensorFlatlineRule(_Strict):
    enabled: bool = True
    after_seconds: LongSeconds = 6 * 3600
    epsilon: Annotated[float, Field(gt=0)] = 0.01  # MPa: a change within this is no change
    min_jockey_starts: Annotated[int, Field(ge=1)] = 3  # the pressure must have moved meanwhile


class TankLowLevelRule(_Strict):
    enabled: bool = True
    # Metres, used where a level point sets no low_limit. The fire reserve of a tank is
    # site-specific, so there is no site-independent default: give the point a low_limit.
    threshold: float | None = None
    hold_seconds: NonNegative = 30
    hysteresis: NonNegative = 0.05


class TankLowTemperatureRule(_Strict):
    enabled: bool = True
    threshold: float = 5.0  # °C: tank water and pump room are kept at 5 °C or warmer in winter
    hold_seconds: NonNegative = 60
    hysteresis: NonNegative = 0.5


class IsolationRule(_Strict):
    enabled: bool = True
    escalate_after_seconds: LongSeconds = 86400


class RulesConfig(_Strict):
    fire_alarm: SimpleRule = SimpleRule()
    pre_alarm: SimpleRule = SimpleRule()
    device_fault: SimpleRule = SimpleRule()
    comm_loss: CommLossRule = CommLossRule()
    low_pressure: LowPressureRule = LowPressureRule()
    sensor_failed: SimpleRule = SimpleRule()
    isolation: IsolationRule = IsolationRule()
    system_in_manual: SystemInManualRule = SystemInManualRule()
    pump_fail_to_start: PumpFailToStartRule = PumpFailToStartRule()
    pump_power_fault: PumpPowerFaultRule = PumpPowerFaultRule()
    high_pressure: HighPressureRule = HighPressureRule()
    pressure_decay: PressureDecayRule = PressureDecayRule()
    jockey_short_cycling: JockeyShortCyclingRule = JockeyShortCyclingRule()
    sensor_out_of_range: SensorOutOfRangeRule = SensorOutOfRangeRule()
    sensor_flatline: SensorFlatlineRule = SensorFlatlineRule()
    tank_low_level: TankLowLevelRule = TankLowLevelRule()
    tank_low_temperature: TankLowTemperatureRule = TankLowTemperatureRule()


class WaterSimulation(_Strict):
    """How the simulated water system links pumps and transmitters (`device/point` ids)."""

    main_pump: str
    jockey_pump: str | None = None
    pressure_points: list[str] = []
    tank_level_point: str | None = None
    static_pressure: float = 0.12  # MPa with no pump running (city supply, head)
    churn_pressure: float = 0.95  # MPa with the main pump running
    jockey_start: float = 0.55
    jockey_stop: float = 0.70
    main_start: float = 0.45
    tank_level: float = 3.2  # m
    # pressure_points[0] is the main; the others sit higher up and read it minus their head loss.
    head_loss: float = 0.25  # MPa
    head_losses: dict[str, float] = {}  # per `device/point`, overriding head_loss
    leak_rate: Annotated[float, Field(ge=0)] = 0.0003  # MPa/s: jockey starts a few times an hour
    jockey_rate: Annotated[float, Field(gt=0)] = 0.02  # MPa/s the jockey pump adds


class SimulationConfig(_Strict):
    water: WaterSimulation | None = None


class MonitoringConfig(_Strict):
    """How the monitoring chain watches itself (DESIGN.md, "Failing safe").

    Every process publishes a heartbeat every `heartbeat_seconds`; a process or the broker
    unheard for `gone_after_seconds` is gone: the rules service raises `monitoring_degraded`
    for a gateway, the notifier and the API say so when the rules service or the broker is.
    """

    heartbeat_seconds: Annotated[float, Field(ge=0.1, le=300)] = 5.0
    gone_after_seconds: Annotated[float, Field(ge=1, le=3600)] = 30.0


class ShelvingConfig(_Strict):
    """Limits on shelving (ISA-18.2): how long supervision of a fire alarm panel may be hidden."""

    # comm_loss, device_fault and isolation of a fire alarm panel: a shelved panel fault is a
    # panel nobody is sure can still report a fire.
    panel_supervision_max_seconds: LongSeconds = 8 * 3600


class Nonconforming(_Strict):
    """A site that knowingly runs outside GB 25506's timing: who approved it and why."""

    reason: Annotated[str, Field(min_length=1)]
    approved_by: Annotated[str, Field(min_length=1)]


class SiteConfig(_Strict):
    site: SiteInfo
    mqtt: MqttConfig = MqttConfig()
    data_dir: str = "./data"
    profile_dirs: list[str] = []
    lines: list[Line] = []  # Modbus RTU lines: serial ports and serial servers
    devices: list[DeviceConfig]
    rules: RulesConfig = RulesConfig()
    simulation: SimulationConfig = SimulationConfig()
    obligations: ObligationsConfig = ObligationsConfig()  # periodic tests (compliance)
    shifts: ShiftsConfig = ShiftsConfig()  # shift changes, duty log, handover deadline
    notifications: NotificationsConfig = NotificationsConfig()  # alerts to engineers
    monitoring: MonitoringConfig = MonitoringConfig()  # heartbeats and watchdogs
    shelving: ShelvingConfig = ShelvingConfig()
    # Declared when the site cannot meet GB 25506's timing (fireroom/conformance.py): it runs, and
    # an open `nonconforming_configuration` incident says so in every handover.
    nonconforming: Nonconforming | None = None

    @model_validator(mode="after")
    def _unique_devices(self) -> Self:
        ids = [device.id for device in self.devices]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"device ids must be unique, repeated: {duplicates}")
        return self

    def line(self, line_id: str) -> SerialLine | RtuOverTcpLine:
        for line in self.lines:
            if line.id == line_id:
                return line
        raise KeyError(f"no line {line_id!r}")


@dataclass
class Site:
    """A validated site: its config, the profiles it uses and every device's resolved points."""

    config: SiteConfig
    profiles: dict[str, Profile]
    points: dict[str, list[PointSpec]] = field(default_factory=dict)
    source: str = "<memory>"
    # Effective rule settings of the devices that override the site's (`devices[].rules`).
    device_rules: dict[str, RulesConfig] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.config.site.id

    def rules_for(self, device_id: str) -> RulesConfig:
        """The rule settings that apply to a device: the site's, with its own overrides."""
        return self.device_rules.get(device_id, self.config.rules)

    def device(self, device_id: str) -> DeviceConfig:
        for device in self.config.devices:
            if device.id == device_id:
                return device
        raise KeyError(f"site {self.id!r} has no device {device_id!r}")

    def profile_of(self, device_id: str) -> Profile:
        return self.profiles[self.device(device_id).profile]


def _resolve_point(
    point: DevicePoint, profile: Profile, at: str, *, json: bool = False
) -> PointSpec:
    given = point.model_dump(exclude_unset=True, exclude={"index"})
    named = next((p for p in profile.points if p.name == point.name), None)
    if json and point.path is None:
        raise ConfigError("", [ConfigProblem(at, "a point of an MQTT device needs 'path'")])
    if not json and point.path is not None:
        raise ConfigError("", [ConfigProblem(f"{at}.path", "only MQTT devices have JSON paths")])
    if json and point.path is not None:
        try:
            parse_path(point.path)
        except ValueError as exc:
            raise ConfigError("", [ConfigProblem(f"{at}.path", str(exc))]) from exc
    if json and named is not None and point.index is None:
        # An MQTT device maps a profile point to its place in the JSON: the profile says
        # what the value means, the device config where it is.
        base = named.model_dump(exclude_unset=True)
        base.update(given)
        given = base
    elif point.index is not None:
        template = profile.point_template
        if template is None:
            raise ConfigError("", [ConfigProblem(at, f"profile {profile.name!r} has no template")])
        if point.index > template.max_index:
            raise ConfigError(
                "", [ConfigProblem(f"{at}.index", f"{point.index} > {template.max_index}")]
            )
        base = template.model_dump(exclude={"base", "stride", "max_index"})
        base["address"] = template.base + point.index * template.stride
        base.update(given)
        given = base
    elif json and point.address is None:
        given["address"] = 0  # JSON points have no register; the planner never sees them
    elif point.address is None:
        raise ConfigError("", [ConfigProblem(at, "a point needs 'address' or 'index'")])
    try:
        return PointSpec.model_validate(given)
    except ValidationError as exc:
        raise ConfigError("", problems_from(exc, prefix=(at,))) from exc


def _resolve(config: SiteConfig, profiles: dict[str, Profile]) -> dict[str, list[PointSpec]]:
    problems: list[ConfigProblem] = []
    resolved: dict[str, list[PointSpec]] = {}
    for d, device in enumerate(config.devices):
        profile = profiles.get(device.profile)
        if profile is None:
            known = ", ".join(sorted(profiles)) or "none"
            problems.append(
                ConfigProblem(f"devices[{d}].profile", f"{device.profile!r} is not one of {known}")
            )
            continue
        # An MQTT device has only the points its config maps to JSON paths.
        json = isinstance(device.transport, MqttTransport)
        points = [] if json else list(profile.points)
        for p, given in enumerate(device.points):
            try:
                points.append(
                    _resolve_point(given, profile, f"devices[{d}].points[{p}]", json=json)
                )
            except ConfigError as exc:
                problems.extend(exc.problems)
        if json and not device.points:
            # Only when none were given: points given but refused are reported each by itself.
            problems.append(ConfigProblem(f"devices[{d}].points", "an MQTT device maps no points"))
        seen: set[str] = set()
        for point in points:
            if point.name in seen:
                problems.append(
                    ConfigProblem(f"devices[{d}].points", f"{point.name!r} is defined twice")
                )
            seen.add(point.name)
        resolved[device.id] = points
    if problems:
        raise ConfigError("", problems)
    return resolved


def _check_lines(config: SiteConfig) -> list[ConfigProblem]:
    """Line ids are unique; an RTU device names a line and a unit id no other device has there."""
    problems: list[ConfigProblem] = []
    first: dict[str, int] = {}
    for index, line in enumerate(config.lines):
        if line.id in first:
            where = f"lines[{first[line.id]}]"
            problems.append(ConfigProblem(f"lines[{index}].id", f"{line.id!r} is already {where}"))
        first.setdefault(line.id, index)
    known = ", ".join(first) or "none"
    units: dict[tuple[str, int], str] = {}
    for d, device in enumerate(config.devices):
        transport = device.transport
        if not isinstance(transport, RtuTransport):
            continue
        if transport.line not in first:
            problems.append(ConfigProblem(
                f"devices[{d}].transport.line",
                f"{transport.line!r} is not one of the site's lines: {known}",
            ))
            continue
        if device.unit_id == 0:
            problems.append(ConfigProblem(
                f"devices[{d}].unit_id", "0 is the broadcast address of an RTU line: use 1 to 247"
            ))
            continue
        other = units.setdefault((transport.line, device.unit_id), device.id)
        if other != device.id:
            problems.append(ConfigProblem(
                f"devices[{d}].unit_id",
                f"{device.unit_id} is already the unit id of {other!r} on line {transport.line!r}",
            ))
    return problems


def _device_rules(config: SiteConfig, profiles: dict[str, Profile]) -> dict[str, RulesConfig]:
    problems: list[ConfigProblem] = []
    resolved: dict[str, RulesConfig] = {}
    site_rules = config.rules.model_dump()
    for d, device in enumerate(config.devices):
        profile = profiles.get(device.profile)
        if device.pump is not None and profile is not None and profile.kind != "pump_controller":
            problems.append(
                ConfigProblem(
                    f"devices[{d}].pump", f"profile {profile.name!r} is not a pump controller"
                )
            )
        if not device.rules:
            continue
        merged = dict(site_rules)
        for name, override in device.rules.items():
            base = site_rules.get(name)
            merged[name] = {**base, **override} if isinstance(base, dict) else override
        try:
            resolved[device.id] = RulesConfig.model_validate(merged)
        except ValidationError as exc:
            problems.extend(problems_from(exc, prefix=(f"devices[{d}]", "rules")))
    if problems:
        raise ConfigError("", problems)
    return resolved


def parse_site(data: Any, source: str = "<memory>", base_dir: Path | None = None) -> Site:
    """Validate an already-parsed site config."""
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, problems_from(exc)) from exc
    directories = [BUILTIN_PROFILES]
    for extra in config.profile_dirs:
        path = Path(extra)
        directories.append(path if path.is_absolute() or base_dir is None else base_dir / path)
    try:
        profiles = load_profiles(directories)
    except ConfigError as exc:
        raise ConfigError(source, exc.problems) from exc
    problems = _check_lines(config)
    points: dict[str, list[PointSpec]] = {}
    device_rules: dict[str, RulesConfig] = {}
    try:
        points = _resolve(config, profiles)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        device_rules = _device_rules(config, profiles)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError(source, problems)
    site = Site(
        config=config,
        profiles=profiles,
        points=points,
        source=source,
        device_rules=device_rules,
    )
    try:
        # Obligations bind to resolved points (detectors by kind), so they are checked last.
        bind_site(site)
    except ConfigError as exc:
        raise ConfigError(source, exc.problems) from exc
    return site


def load_site(path: str | Path) -> Site:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"cannot read: {exc.strerror}")]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError(str(path), [ConfigProblem("", "the file must hold a mapping")])
    return parse_site(data, source=str(path), base_dir=path.parent)
