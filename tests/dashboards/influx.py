"""The test's own path from the real pipeline into a real InfluxDB 1.x.

Scans come from a real gateway (a `ScanSink` that passes every scan on to the MQTT publisher and
keeps it), incident events from the rules service's real SQLite store; both become lines through
`fireroom.lineprotocol` and go to InfluxDB's v1 `/write`. The gateway's own InfluxDB sink is not
needed here: the dashboards depend on the schema, and the schema is `fireroom.lineprotocol`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from fireroom.config import Site
from fireroom.lineprotocol import incident_line, reading_line, series_key
from fireroom.points import PointSpec
from gateway.poller import DeviceStatus, Scan, ScanSink
from services.incidents.store import IncidentStore

__all__ = ["Influx", "ScanRecorder", "Series", "incident_lines", "scan_lines"]

_BATCH = 5000  # lines per /write request


def _kind(spec: PointSpec) -> str:
    if spec.role is not None:
        return spec.role.value
    return spec.kind or "value"


def _code(spec: PointSpec, value: object) -> int | None:
    """The raw enum value or flag word behind a decoded label or flag list."""
    if spec.enum and isinstance(value, str):
        return next((code for code, label in spec.enum.items() if label == value), None)
    if spec.flags and isinstance(value, list):
        bits = {name: bit for bit, name in spec.flags.items()}
        return sum(1 << bits[name] for name in value if name in bits)
    return None


def scan_lines(site: Site, scan: Scan) -> list[str]:
    specs = {spec.name: spec for spec in site.points[scan.device]}
    ts_ns = int(scan.ts * 1e9)
    lines = []
    for reading in scan.readings:
        spec = specs[reading.point]
        key = series_key(site.id, scan.device, reading.point, _kind(spec))
        lines.append(reading_line(key, reading, ts_ns, _code(spec, reading.value)))
    return lines


def incident_lines(store: IncidentStore, site_id: str) -> list[str]:
    """Every event of every incident of the site, as the rules service would announce them."""
    lines = []
    for incident in store.list(site=site_id, limit=10_000):
        for event in store.events(incident.id):
            severity = event.data.get("severity", incident.severity.value)
            lines.append(incident_line(
                site=incident.site,
                rule=incident.rule,
                severity=str(severity),
                device=incident.device,
                incident_id=incident.id,
                subject=incident.subject,
                state=event.state_after.value,
                event=event.kind.value,
                message=incident.message,
                ts_ns=int(event.at * 1e9),
            ))
    return lines


@dataclass
class ScanRecorder:
    """A `ScanSink` in front of the gateway's publisher: passes everything on, keeps the lines."""

    site: Site
    inner: ScanSink
    lines: list[str] = field(default_factory=list)

    def scan(self, scan: Scan) -> None:
        self.inner.scan(scan)
        self.lines.extend(scan_lines(self.site, scan))

    def status(self, device: str, status: DeviceStatus) -> None:
        self.inner.status(device, status)


@dataclass(frozen=True)
class Series:
    """One series of an InfluxQL answer."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        """Each row as a dict, with the series' tags as columns too (Grafana's table format)."""
        return [{**self.tags, **dict(zip(self.columns, row, strict=True))} for row in self.values]


class InfluxError(Exception):
    pass


@dataclass(frozen=True)
class Influx:
    """One database on a real InfluxDB 1.x, through its HTTP API."""

    url: str
    database: str

    def create(self) -> None:
        self._post_query(f'CREATE DATABASE "{self.database}"')

    def write(self, lines: list[str]) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for start in range(0, len(lines), _BATCH):
                body = "\n".join(lines[start : start + _BATCH]).encode()
                answer = client.post(
                    "/write", params={"db": self.database, "precision": "ns"}, content=body
                )
                if answer.status_code != 204:
                    raise InfluxError(f"/write answered {answer.status_code}: {answer.text}")

    def query(self, influxql: str) -> list[Series]:
        """Run one statement as Grafana does (GET /query, epoch ms) and return its series."""
        with httpx.Client(base_url=self.url, timeout=30) as client:
            answer = client.get(
                "/query", params={"db": self.database, "q": influxql, "epoch": "ms"}
            )
        body = answer.json()
        if answer.status_code != 200 or "error" in body:
            raise InfluxError(f"{influxql!r}: {answer.status_code} {body}")
        results = body["results"]
        if len(results) != 1:
            raise InfluxError(f"{influxql!r}: expected one statement, got {len(results)}")
        if "error" in results[0]:
            raise InfluxError(f"{influxql!r}: {results[0]['error']}")
        return [
            Series(s["name"], s.get("tags") or {}, s["columns"], s["values"])
            for s in results[0].get("series", [])
        ]

    def _post_query(self, influxql: str) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            answer = client.post("/query", data={"q": influxql})
        if answer.status_code != 200 or "error" in answer.text:
            raise InfluxError(f"{influxql!r}: {answer.status_code} {answer.text}")
