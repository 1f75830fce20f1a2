from __future__ import annotations

from fireroom.domain import Quality, Reading
from fireroom.lineprotocol import incident_line, reading_line, series_key

KEY = series_key("tower a", "ai-1", "main,pressure", "pressure")


def test_series_key_escapes_tags_and_sorts_them() -> None:
    assert KEY == r"reading,device=ai-1,kind=pressure,point=main\,pressure,site=tower\ a"


def test_number_with_raw() -> None:
    line = reading_line(KEY, Reading("p", 0.62, Quality.GOOD, 13.9), 5)
    assert line == f'{KEY} quality="good",value=0.62,raw=13.9 5'


def test_lost_reading_has_no_value() -> None:
    line = reading_line(KEY, Reading("p", None, Quality.COMM_LOST), 5)
    assert line == f'{KEY} quality="comm_lost" 5'


def test_booleans_enums_and_flags() -> None:
    assert reading_line(KEY, Reading("r", True, Quality.GOOD), 1).endswith(
        'quality="good",value=1.0 1')
    assert reading_line(KEY, Reading("m", "auto", Quality.GOOD), 1, code=1).endswith(
        'quality="good",state="auto",value=1.0 1')
    assert reading_line(KEY, Reading("s", ["fire", "started"], Quality.GOOD), 1, code=34).endswith(
        'quality="good",state="fire,started",value=34.0 1')
    assert reading_line(KEY, Reading("s", [], Quality.GOOD), 1, code=0).endswith(
        'state="",value=0.0 1')


def test_nan_is_not_written() -> None:
    assert "value" not in reading_line(KEY, Reading("f", float("nan"), Quality.BAD), 1)


def test_incident_line_escapes_strings() -> None:
    line = incident_line(
        site="tower-a", rule="fire_alarm", severity="critical", device="facp-1", incident_id=3,
        subject="tower-a/facp-1/L1", state="active_unacked", event="raised",
        message='Fire "zone 1"\nB1', ts_ns=7,
    )
    assert line == (
        "incident,rule=fire_alarm,severity=critical,site=tower-a,device=facp-1 "
        'id=3i,subject="tower-a/facp-1/L1",state="active_unacked",event="raised",'
        r'message="Fire \"zone 1\"\nB1" 7'
    )
