"""The v2 write API (`/api/v2/write`) through influxdb-client: InfluxDB 2.x, 3.x and 1.8+.

The batches are already gzip-compressed on disk, so this calls the client's write service with
`Content-Encoding: gzip` and the stored bytes instead of its WriteApi, which would format and
compress again. The client is synchronous (urllib3): each write runs on a worker thread, bounded
by the client's own timeout and by `asyncio.timeout` here.

InfluxDB 1.8+ takes this API too: bucket `database/retention-policy`, token `username:password`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import urllib3
from influxdb_client import InfluxDBClient, WriteService  # type: ignore[attr-defined]
from influxdb_client.rest import ApiException

from fireroom.errors import InfluxUnavailable
from gateway.influx.transport import error_for_status

__all__ = ["V2Transport"]


class V2Transport:
    """Writes to a bucket of an organization through influxdb-client.

    Args:
        url: the server, e.g. `http://influxdb:8086`.
        bucket: the bucket (`database/rp` on InfluxDB 1.8; the database on InfluxDB 3).
        org: the organization (name or id); InfluxDB 3 and 1.8 ignore it.
        token: the API token (`username:password` on InfluxDB 1.8 with auth).
        timeout: seconds for one write.
    """

    def __init__(
        self,
        url: str,
        *,
        bucket: str,
        org: str = "-",
        token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.bucket = bucket
        self.org = org
        self.timeout = timeout
        # Retries stay off: the writer retries with its own backoff, keeping the batch on disk.
        self._client = InfluxDBClient(
            url=self.url, token=token or "", org=org, timeout=int(timeout * 1000), retries=False
        )
        self._service: Any = WriteService(self._client.api_client)  # type: ignore[no-untyped-call]

    @property
    def target(self) -> str:
        return f"{self.url} bucket {self.bucket} org {self.org}"

    def _post(self, body: bytes) -> None:
        self._service.post_write(
            org=self.org,
            bucket=self.bucket,
            body=body,
            precision="ns",
            content_encoding="gzip",
            content_type="text/plain; charset=utf-8",
        )

    async def write(self, body: bytes) -> None:
        try:
            # A write the timeout gives up on may still land later: at least once, never lost.
            async with asyncio.timeout(self.timeout + 1.0):
                await asyncio.to_thread(self._post, body)
        except TimeoutError as exc:
            raise InfluxUnavailable(f"no answer within {self.timeout:g} s") from exc
        except ApiException as exc:
            status = int(exc.status or 0)
            if status == 0:  # the client could not even send it (TLS)
                raise InfluxUnavailable(str(exc.reason)) from exc
            body_text = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else ""
            headers = dict(exc.headers or {})
            raise error_for_status(status, body_text or str(exc.reason), headers) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise InfluxUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)
