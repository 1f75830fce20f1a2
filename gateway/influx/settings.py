"""Where telemetry goes: InfluxDB connection settings from command-line options or environment.

    FIREROOM_INFLUX_URL               http://influxdb:8086; InfluxDB is off without it
    FIREROOM_INFLUX_API               v1 (InfluxDB 1.x /write) or v2 (/api/v2/write: 2.x, 3.x, 1.8+)
    FIREROOM_INFLUX_DATABASE          v1: the database
    FIREROOM_INFLUX_RETENTION_POLICY  v1: the retention policy (the database's default if unset)
    FIREROOM_INFLUX_USERNAME          v1: basic auth; v2: with the password, a 1.8 token
    FIREROOM_INFLUX_PASSWORD
    FIREROOM_INFLUX_ORG               v2: the organization ("-" if unset: 1.8 and 3.x ignore it)
    FIREROOM_INFLUX_BUCKET            v2: the bucket (`db/rp` on 1.8, the database on 3.x)
    FIREROOM_INFLUX_TOKEN             v2: the API token
    FIREROOM_INFLUX_BUFFER_MB         bound of each disk buffer, MiB (default 1024)

An option given on the command line wins over the environment. Without FIREROOM_INFLUX_API the
API is v1 when a database is given and neither a bucket nor a token, else v2.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from fireroom.clock import Clock
from fireroom.errors import ConfigError, ConfigProblem
from gateway.influx.buffer import DiskBuffer
from gateway.influx.transport import Transport, V1Transport
from gateway.influx.writer import BufferedWriter

__all__ = ["ENVIRONMENT", "InfluxSettings"]

# Option name -> environment variable.
ENVIRONMENT = {
    "url": "FIREROOM_INFLUX_URL",
    "api": "FIREROOM_INFLUX_API",
    "database": "FIREROOM_INFLUX_DATABASE",
    "retention_policy": "FIREROOM_INFLUX_RETENTION_POLICY",
    "username": "FIREROOM_INFLUX_USERNAME",
    "password": "FIREROOM_INFLUX_PASSWORD",
    "org": "FIREROOM_INFLUX_ORG",
    "bucket": "FIREROOM_INFLUX_BUCKET",
    "token": "FIREROOM_INFLUX_TOKEN",
    "buffer_mb": "FIREROOM_INFLUX_BUFFER_MB",
}

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """A validated InfluxDB target and the limits of its writers."""

    url: str
    api: Literal["v1", "v2"]
    database: str | None = None
    retention_policy: str | None = None
    username: str | None = None
    password: str | None = None
    org: str = "-"
    bucket: str | None = None
    token: str | None = None
    buffer_bytes: int = 1024 * MIB
    batch_points: int = 5000
    flush_interval: float = 1.0
    timeout: float = 10.0

    @classmethod
    def resolve(
        cls,
        options: Mapping[str, str | int | None] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> InfluxSettings | None:
        """Settings from options (keys of ENVIRONMENT) over the environment; None if no URL."""
        env = os.environ if environ is None else environ
        given = options or {}

        def pick(key: str) -> str | None:
            value = given.get(key)
            if value is None or value == "":
                value = env.get(ENVIRONMENT[key]) or None
            return None if value is None else str(value)

        url = pick("url")
        if url is None:
            return None
        problems: list[ConfigProblem] = []

        def problem(key: str, message: str) -> None:
            problems.append(ConfigProblem(f"--influx-{key.replace('_', '-')} / "
                                          f"{ENVIRONMENT[key]}", message))

        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            problem("url", f"{url!r} is not http(s)://host:port")
        database, bucket, token = pick("database"), pick("bucket"), pick("token")
        username, password = pick("username"), pick("password")
        api = pick("api")
        if api is None:
            api = "v1" if database and not bucket and not token else "v2"
        api = api.lower()
        buffer_bytes = 1024 * MIB
        if (buffer_mb := pick("buffer_mb")) is not None:
            try:
                buffer_bytes = int(float(buffer_mb) * MIB)
            except ValueError:
                buffer_bytes = 0
            if buffer_bytes < MIB:
                problem("buffer_mb", f"{buffer_mb!r} is not a size of at least 1 (MiB)")
        if api == "v1":
            if not database:
                problem("database", "the v1 API needs a database")
        elif api == "v2":
            if not bucket:
                problem("bucket", "the v2 API needs a bucket (`database/rp` on InfluxDB 1.8)")
            if token is None and username:
                # InfluxDB 1.8's v2 API takes `username:password` as its token.
                token = f"{username}:{password or ''}"
        else:
            problem("api", f"{api!r} is not 'v1' or 'v2'")
        if problems:
            raise ConfigError("InfluxDB settings", problems)
        return cls(
            url=url.rstrip("/"),
            api="v1" if api == "v1" else "v2",
            database=database,
            retention_policy=pick("retention_policy"),
            username=username,
            password=password,
            org=pick("org") or "-",
            bucket=bucket,
            token=token,
            buffer_bytes=buffer_bytes,
        )

    def transport(self) -> Transport:
        if self.api == "v1":
            assert self.database is not None  # checked by resolve
            return V1Transport(
                self.url,
                database=self.database,
                retention_policy=self.retention_policy,
                username=self.username,
                password=self.password,
                timeout=self.timeout,
            )
        from gateway.influx.v2 import V2Transport  # influxdb-client only where it is used

        assert self.bucket is not None
        return V2Transport(
            self.url, bucket=self.bucket, org=self.org, token=self.token, timeout=self.timeout
        )

    def writer(self, path: Path, *, name: str, clock: Clock | None = None) -> BufferedWriter:
        """A writer to this target with its disk buffer in `path` (one file per writer)."""
        buffer = DiskBuffer(path, max_bytes=self.buffer_bytes)
        return BufferedWriter(
            self.transport(),
            buffer,
            name=name,
            batch_points=self.batch_points,
            flush_interval=self.flush_interval,
            clock=clock,
        )

    def describe(self) -> str:
        """For logs: the target without credentials."""
        if self.api == "v1":
            rp = f" rp {self.retention_policy}" if self.retention_policy else ""
            return f"{self.url} (v1, database {self.database}{rp})"
        return f"{self.url} (v2, bucket {self.bucket}, org {self.org})"
