"""The InfluxDB schema of fireroom, as line protocol. Dashboards and sinks depend on it.

Measurement `reading`, one line per point per scan:
    tags    site, device, point, kind (the point's role, else its kind, else "value")
    fields  value  float: the number; 1.0/0.0 for booleans; the raw code for enums and flag words
                   (absent when the quality has no value, e.g. comm_lost)
            state  string: the enum label, or the set flags joined by "," ("" when none)
            quality string: good, stale, comm_lost, out_of_range, sensor_failed, bad
            raw    float: the transmitter's mA, where there is one
Measurement `incident`, one line per incident event:
    tags    site, rule, severity, device (absent for site-wide incidents)
    fields  id (integer), subject, state, event, message (strings)
Timestamps are nanoseconds (write precision `ns`).
"""

from __future__ import annotations

import math

from fireroom.domain import Reading

__all__ = [
    "INCIDENT",
    "READING",
    "incident_line",
    "reading_fields",
    "reading_line",
    "series_key",
]

READING = "reading"
INCIDENT = "incident"

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": "", "\r": ""})
_FIELD_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": r"\n", "\r": ""})


def _tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def _string(value: str) -> str:
    return '"' + value.translate(_FIELD_ESCAPES) + '"'


def _float(value: float) -> str:
    # repr keeps full precision; line protocol floats need no suffix.
    return repr(float(value))


def series_key(site: str, device: str, point: str, kind: str) -> str:
    """`reading,site=..,device=..,kind=..,point=..`: build once per point, reuse every scan."""
    return (
        f"{READING},device={_tag(device)},kind={_tag(kind)},point={_tag(point)},site={_tag(site)}"
    )


def reading_line(key: str, reading: Reading, ts_ns: int, code: int | None = None) -> str:
    """One reading as a line; `code` is the raw enum value or flag word, where there is one."""
    return f"{key} {reading_fields(reading, code)} {ts_ns}"


def reading_fields(reading: Reading, code: int | None = None) -> str:
    """The field set of a reading's line: what a sink may reuse while a point holds still."""
    fields = [f"quality={_string(reading.quality.value)}"]
    value = reading.value
    if isinstance(value, bool):
        fields.append(f"value={'1.0' if value else '0.0'}")
    elif isinstance(value, (int, float)):
        if math.isfinite(value):
            fields.append(f"value={_float(value)}")
    elif isinstance(value, str):
        fields.append(f"state={_string(value)}")
    elif isinstance(value, list):
        fields.append(f"state={_string(','.join(value))}")
    if code is not None and not isinstance(value, (int, float)):
        fields.append(f"value={_float(code)}")
    if reading.raw is not None:
        fields.append(f"raw={_float(reading.raw)}")
    return ",".join(fields)


def incident_line(
    *,
    site: str,
    rule: str,
    severity: str,
    device: str | None,
    incident_id: int,
    subject: str,
    state: str,
    event: str,
    message: str,
    ts_ns: int,
) -> str:
    tags = f"{INCIDENT},rule={_tag(rule)},severity={_tag(severity)},site={_tag(site)}"
    if device:
        tags += f",device={_tag(device)}"
    fields = (
        f"id={incident_id}i,subject={_string(subject)},state={_string(state)},"
        f"event={_string(event)},message={_string(message)}"
    )
    return f"{tags} {fields} {ts_ns}"
