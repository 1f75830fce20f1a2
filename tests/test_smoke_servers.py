import time

import httpx

from tests.servers import HttpServer


def test_influxdb_takes_a_write_and_answers_a_query(influxdb: HttpServer) -> None:
    httpx.post(f"{influxdb.url}/query", data={"q": "CREATE DATABASE smoke"}).raise_for_status()
    written = httpx.post(f"{influxdb.url}/write", params={"db": "smoke"}, content=b"m v=1 1")
    assert written.status_code == 204
    answer = httpx.get(f"{influxdb.url}/query", params={"db": "smoke", "q": "SELECT v FROM m"})
    values = answer.json()["results"][0]["series"][0]["values"]
    assert values == [["1970-01-01T00:00:00.000000001Z", 1]]


def test_victoria_metrics_takes_v2_writes(victoria_metrics: HttpServer) -> None:
    written = httpx.post(
        f"{victoria_metrics.url}/api/v2/write", params={"bucket": "b", "org": "o"},
        content=b"m,tag=a v=2",
    )
    assert written.status_code == 204
    text = ""
    deadline = time.monotonic() + 30
    while '"tag":"a"' not in text and time.monotonic() < deadline:
        time.sleep(0.2)  # new series become searchable after a moment
        httpx.get(f"{victoria_metrics.url}/internal/force_flush").raise_for_status()
        text = httpx.post(f"{victoria_metrics.url}/api/v1/export",
                          data={"match[]": '{__name__="m_v"}'}).text
    assert '"tag":"a"' in text
