"""InfluxDB settings from options and the environment."""

from __future__ import annotations

import pytest

from fireroom.errors import ConfigError
from gateway.influx import InfluxSettings, V1Transport


def test_off_without_a_url() -> None:
    assert InfluxSettings.resolve({}, {}) is None
    assert InfluxSettings.resolve({"database": "x"}, {"FIREROOM_INFLUX_DATABASE": "y"}) is None


def test_v1_from_the_environment() -> None:
    settings = InfluxSettings.resolve({}, {
        "FIREROOM_INFLUX_URL": "http://influx:8086/",
        "FIREROOM_INFLUX_DATABASE": "fireroom",
        "FIREROOM_INFLUX_RETENTION_POLICY": "one_year",
        "FIREROOM_INFLUX_USERNAME": "writer",
        "FIREROOM_INFLUX_PASSWORD": "secret",
        "FIREROOM_INFLUX_BUFFER_MB": "64",
    })
    assert settings is not None
    assert (settings.api, settings.url, settings.database) == ("v1", "http://influx:8086",
                                                               "fireroom")
    assert settings.retention_policy == "one_year"
    assert settings.buffer_bytes == 64 * 1024 * 1024
    assert "secret" not in settings.describe()
    assert isinstance(settings.transport(), V1Transport)


def test_options_win_over_the_environment() -> None:
    settings = InfluxSettings.resolve(
        {"url": "http://a:8086", "api": "v2", "bucket": "b", "org": "o", "token": None},
        {"FIREROOM_INFLUX_URL": "http://b:8086", "FIREROOM_INFLUX_BUCKET": "other",
         "FIREROOM_INFLUX_TOKEN": "t0k"},
    )
    assert settings is not None
    assert (settings.url, settings.api, settings.bucket, settings.org, settings.token) == (
        "http://a:8086", "v2", "b", "o", "t0k")


def test_v2_is_the_default_without_a_database_and_takes_a_1_8_login_as_token() -> None:
    settings = InfluxSettings.resolve({}, {
        "FIREROOM_INFLUX_URL": "http://influx:8086", "FIREROOM_INFLUX_BUCKET": "fireroom/autogen",
        "FIREROOM_INFLUX_USERNAME": "u", "FIREROOM_INFLUX_PASSWORD": "p",
    })
    assert settings is not None
    assert (settings.api, settings.org, settings.token) == ("v2", "-", "u:p")


def test_every_problem_is_named_with_its_option_and_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        InfluxSettings.resolve({"url": "influx:8086", "api": "v1", "buffer_mb": "0"}, {})
    text = str(caught.value)
    assert "--influx-url / FIREROOM_INFLUX_URL: 'influx:8086' is not http(s)://host:port" in text
    assert "--influx-database / FIREROOM_INFLUX_DATABASE: the v1 API needs a database" in text
    assert "--influx-buffer-mb / FIREROOM_INFLUX_BUFFER_MB" in text
    with pytest.raises(ConfigError, match="'v3' is not 'v1' or 'v2'"):
        InfluxSettings.resolve({}, {"FIREROOM_INFLUX_URL": "http://x", "FIREROOM_INFLUX_API": "v3"})
    with pytest.raises(ConfigError, match="needs a bucket"):
        InfluxSettings.resolve({}, {"FIREROOM_INFLUX_URL": "http://x", "FIREROOM_INFLUX_API": "v2"})
