"""Problems from pydantic errors read as the site wrote them: paths without branch names."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from fireroom.validation import format_path, problems_from


@pytest.mark.parametrize(
    ("location", "path"),
    [
        (("devices", 0, "transport", "tcp", "port"), "devices[0].transport.port"),
        (("devices", 0, "transport", "rtu", "line"), "devices[0].transport.line"),
        (("devices", 2, "transport", "mqtt", "topic"), "devices[2].transport.topic"),
        (("devices", 2, "transport", "mqtt", "broker", "port"),
         "devices[2].transport.broker.port"),
        (("lines", 0, "serial", "parity"), "lines[0].parity"),
        (("lines", 1, "rtu-over-tcp", "host"), "lines[1].host"),
        (("lines", 1, "rtu-over-tcp"), "lines[1]"),  # a check across the branch's fields
        (("mqtt", "port"), "mqtt.port"),  # the site's own `mqtt:` section
        (("notifications", "channels", 1, "webhook", "url"),
         "notifications.channels[1].webhook.url"),
        ((), ""),
    ],
)
def test_branch_names_of_tagged_unions_leave_the_path(
    location: tuple[int | str, ...], path: str
) -> None:
    assert format_path(location) == path


class _Serial(BaseModel):
    type: Literal["serial"] = "serial"
    port: str
    parity: Literal["N", "E", "O"] = "N"

    @field_validator("port")
    @classmethod
    def _device(cls, value: str) -> str:
        if not value.startswith("/dev/"):
            raise ValueError(f"{value!r} is not a device path")
        return value


class _Tcp(BaseModel):
    type: Literal["rtu-over-tcp"] = "rtu-over-tcp"
    host: str
    port: int = 502

    @model_validator(mode="after")
    def _connectable(self) -> _Tcp:
        if self.host == "0.0.0.0":
            raise ValueError("a serial server needs an address to connect to")
        return self


class _Site(BaseModel):
    lines: list[Annotated[_Serial | _Tcp, Field(discriminator="type")]]


def _problems(data: object) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        _Site.model_validate(data)
    return [str(problem) for problem in problems_from(caught.value)]


def test_value_errors_lose_pydantics_prefix() -> None:
    assert _problems({"lines": [{"type": "serial", "port": "COM3"}]}) == [
        "lines[0].port: 'COM3': 'COM3' is not a device path"
    ]


def test_a_check_across_fields_does_not_quote_the_whole_mapping() -> None:
    assert _problems({"lines": [{"type": "rtu-over-tcp", "host": "0.0.0.0"}]}) == [
        "lines[0]: a serial server needs an address to connect to"
    ]


def test_tag_errors_name_the_types() -> None:
    assert _problems({"lines": [{"type": "rs485", "port": "/dev/x"}, {"port": "/dev/y"}]}) == [
        "lines[0]: type 'rs485' is not one of 'serial', 'rtu-over-tcp'",
        "lines[1]: needs 'type'",
    ]


def test_other_errors_keep_the_value_and_missing_fields_say_so() -> None:
    assert _problems({"lines": [{"type": "serial", "port": "/dev/x", "parity": "X"},
                                {"type": "rtu-over-tcp"}]}) == [
        "lines[0].parity: 'X': Input should be 'N', 'E' or 'O'",
        "lines[1].host: Field required",
    ]


class _Strict(BaseModel, extra="forbid"):
    name: str = ""


def test_an_unknown_key_named_like_a_branch_is_kept() -> None:
    with pytest.raises(ValidationError) as caught:
        _Strict.model_validate({"mqtt": 1, "tcp": 2})
    assert [str(problem) for problem in problems_from(caught.value, prefix=("devices", 0))] == [
        "devices[0].mqtt: unknown field", "devices[0].tcp: unknown field"]


def test_a_prefix_leads_the_path() -> None:
    with pytest.raises(ValidationError) as caught:
        _Site.model_validate({"lines": [{"type": "rtu-over-tcp"}]})
    (problem,) = problems_from(caught.value, prefix=("site.yaml", "links"))
    assert problem.path == "site.yaml.links.lines[0].host"
