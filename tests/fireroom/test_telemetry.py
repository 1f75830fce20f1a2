from __future__ import annotations

import pytest

from fireroom import telemetry, topics
from fireroom.domain import Quality, Reading
from fireroom.telemetry import MAX_PAYLOAD_BYTES, Telemetry, TelemetryError


def test_round_trip_keeps_values_qualities_and_raw() -> None:
    message = Telemetry(
        "tower-a", "ai-1", 1764130000.125, 7,
        [
            Reading("main_pressure", 0.62, Quality.GOOD, 10.2),
            Reading("riser", None, Quality.SENSOR_FAILED, 2.0),
            Reading("running", True, Quality.GOOD),
            Reading("mode", "auto", Quality.GOOD),
            Reading("L1-SD001", ["normal"], Quality.GOOD),
            Reading("lost", None, Quality.COMM_LOST),
        ],
    )
    decoded = telemetry.decode(telemetry.encode(message))
    assert decoded == message


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"site": 1, "device": "d", "ts": 1, "seq": 1, "readings": {}}', "must be strings"),
        (b'{"site": "s", "device": "d", "ts": "x", "seq": 1, "readings": {}}', "'ts' must be"),
        (b'{"site": "s", "device": "d", "ts": 1, "seq": 1.5, "readings": {}}', "'seq' must be"),
        (b'{"site": "s", "device": "d", "ts": 1, "seq": 1, "readings": []}', "must be an object"),
        (b'{"site": "s", "device": "d", "ts": 1, "seq": 1, "readings": {"p": [1]}}', "must be"),
        (b'{"site": "s", "device": "d", "ts": 1, "seq": 1, "readings": {"p": [1, "great"]}}',
         "unknown quality"),
        (b'{"site": "s", "device": "d", "ts": 1, "seq": 1, "readings": {"p": [{}, "good"]}}',
         "not a number"),
        (b'{"site": "s", "device": "d", "ts": 1, "seq": 1, "readings": {"p": [1, "good", "x"]}}',
         "raw"),
    ],
)
def test_malformed_payloads_say_what_is_wrong(payload: bytes, reason: str) -> None:
    with pytest.raises(TelemetryError, match=reason):
        telemetry.decode(payload)


def test_oversized_payload_is_refused_before_parsing() -> None:
    with pytest.raises(TelemetryError, match="exceeds"):
        telemetry.decode(b" " * (MAX_PAYLOAD_BYTES + 1))


def test_topics() -> None:
    assert topics.telemetry("tower-a", "pump-1") == "fireroom/v1/tower-a/telemetry/pump-1"
    assert topics.parse_device_topic("fireroom/v1/tower-a/status/pump-1") == (
        "tower-a", "status", "pump-1")
    with pytest.raises(ValueError, match="not a fireroom device topic"):
        topics.parse_device_topic("fireroom/v2/x/telemetry/y")
