"""How a batch reaches InfluxDB: the v1 `/write` API over httpx, and the common error mapping.

A transport sends one gzip-compressed batch of line protocol and either returns or raises one of
fireroom's sink errors, which tell the writer what to do next:

    InfluxUnavailable  network error, timeout, 5xx, 429      keep the batch, back off, retry
    InfluxRefused      401, 403, 404 (no such database)       keep the batch, back off, retry
    InfluxTooLarge     413                                    split the batch and send the halves
    InfluxRejected     any other 4xx (malformed, type clash)  set the batch aside, go on

Refusals are retried rather than set aside: a wrong password or a missing database is fixed by
a person, and the readings must still be there when it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

import httpx

from fireroom.errors import (
    InfluxRefused,
    InfluxRejected,
    InfluxTooLarge,
    InfluxUnavailable,
    SinkError,
)

__all__ = ["Transport", "V1Transport", "error_for_status"]

_REFUSED = frozenset({401, 403, 404})


class Transport(Protocol):
    """Sends one gzip-compressed batch of line protocol (precision ns)."""

    @property
    def target(self) -> str:
        """Where writes go, for logs: URL and database or bucket, never credentials."""
        ...

    async def write(self, body: bytes) -> None: ...

    async def aclose(self) -> None: ...


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; the backoff will do


def error_for_status(status: int, text: str, headers: Mapping[str, str]) -> SinkError:
    """The sink error for a non-2xx answer to a write."""
    detail = " ".join(text.split())[:300] or "(no body)"
    message = f"HTTP {status}: {detail}"
    if status == 413:
        return InfluxTooLarge(message, status)
    if status == 429 or status >= 500 or status == 408:
        return InfluxUnavailable(message, _retry_after(headers))
    if status in _REFUSED:
        return InfluxRefused(message, status)
    if 400 <= status < 500:
        return InfluxRejected(message, status)
    # 1xx and 3xx: a proxy or a misconfigured URL; nothing about the batch is known bad.
    return InfluxUnavailable(message)


class V1Transport:
    """InfluxDB 1.x `/write`: database, optional retention policy, optional user and password.

    Args:
        url: the server, e.g. `http://influxdb:8086`.
        database: the database written to (it must exist).
        retention_policy: the retention policy; the database's default when None.
        username, password: basic authentication, when the server has auth enabled.
        timeout: seconds for one write, connection included.
    """

    def __init__(
        self,
        url: str,
        *,
        database: str,
        retention_policy: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.timeout = timeout
        self._params = {"db": database, "precision": "ns"}
        if retention_policy:
            self._params["rp"] = retention_policy
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._client = httpx.AsyncClient(
            auth=auth,
            timeout=httpx.Timeout(timeout),
            headers={"content-encoding": "gzip", "content-type": "text/plain; charset=utf-8"},
        )

    @property
    def target(self) -> str:
        rp = self._params.get("rp")
        return f"{self.url} database {self.database}" + (f" rp {rp}" if rp else "")

    async def write(self, body: bytes) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self._client.post(
                    f"{self.url}/write", params=self._params, content=body
                )
        except TimeoutError as exc:
            raise InfluxUnavailable(f"no answer within {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if answer.status_code // 100 != 2:
            raise error_for_status(answer.status_code, answer.text, answer.headers)

    async def aclose(self) -> None:
        await self._client.aclose()
