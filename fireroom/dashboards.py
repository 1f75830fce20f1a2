"""`fireroom dashboards push`: upload the shipped Grafana dashboards to a running Grafana.

Talks to Grafana's HTTP API through grafana-client: finds or creates the folder, checks the data
source when one is named, then saves every dashboard with `overwrite`, so pushing again updates
them in place (same uid) instead of failing or duplicating. Grafana's refusals become a
`PushError` that says what was being done and what to check.
"""

from __future__ import annotations

import copy
import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from grafana_client.api import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
    GrafanaTimeoutError,
    GrafanaUnauthorizedError,
)

from fireroom.errors import FireroomError

__all__ = ["DASHBOARDS_DIR", "PushError", "Pushed", "load_dashboards", "push", "push_command"]

DASHBOARDS_DIR = Path(__file__).resolve().parent.parent / "dashboards"
DATASOURCE_VARIABLE = "datasource"
DEFAULT_TIMEOUT = 10.0
_COMMIT_MESSAGE = "fireroom dashboards push"


class PushError(FireroomError):
    """Grafana could not be reached or refused; the message says what to check."""


@dataclass(frozen=True, slots=True)
class Pushed:
    """One dashboard as Grafana saved it."""

    uid: str
    title: str
    url: str
    version: int


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> list[dict[str, Any]]:
    """Every dashboard JSON model in `directory`, by file name."""
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise PushError(f"no dashboards (*.json) in {directory}")
    models = []
    for path in paths:
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PushError(f"{path}: not a dashboard JSON model: {exc}") from exc
        if not isinstance(model, dict) or not model.get("uid") or not model.get("title"):
            raise PushError(f"{path}: a dashboard needs a uid and a title")
        models.append(model)
    return models


def _with_datasource(model: dict[str, Any], datasource_uid: str | None) -> dict[str, Any]:
    """The model as it is saved: no numeric id (Grafana assigns it per instance), and the data
    source variable preset to the chosen data source, when one was named."""
    model = copy.deepcopy(model)
    model["id"] = None
    if datasource_uid is not None:
        for variable in model.get("templating", {}).get("list", []):
            if variable.get("type") == "datasource" and variable.get("name") == DATASOURCE_VARIABLE:
                variable["current"] = {"selected": True, "text": datasource_uid,
                                       "value": datasource_uid}
    return model


def _api_url(url: str) -> str:
    # grafana-client appends "api" to the URL's path: a sub-path needs its trailing slash.
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushError(f"--url {url!r} is not an http(s) URL of Grafana")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _without_password(url: str) -> str:
    """The URL as messages show it: a password in it stays out of logs and terminals."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@contextmanager
def _asking(url: str, action: str) -> Iterator[None]:
    """Turn Grafana's refusals, and failures to reach it, into a PushError about `action`."""
    try:
        yield
    except GrafanaUnauthorizedError as exc:
        raise PushError(
            f"Grafana at {url} refused the credentials while {action} (401 Unauthorized): "
            "check --token (a service account token) or the user:password in --url"
        ) from exc
    except GrafanaTimeoutError as exc:
        raise PushError(f"Grafana at {url} did not answer in time while {action}") from exc
    except GrafanaClientError as exc:
        detail = _message(exc)
        if exc.status_code == 403:
            raise PushError(
                f"Grafana at {url} forbids {action} (403 Forbidden: {detail}): the token's role "
                "needs to write dashboards and folders (Editor or Admin)"
            ) from exc
        if exc.status_code == 404:
            raise PushError(
                f"Grafana at {url} found nothing while {action} (404 Not Found: {detail}); "
                "is --url Grafana's root URL, sub-path included?"
            ) from exc
        raise PushError(
            f"Grafana at {url} refused {action} ({exc.status_code}: {detail})"
        ) from exc
    except GrafanaServerError as exc:
        raise PushError(
            f"Grafana at {url} failed while {action} ({exc.status_code}: {_message(exc)})"
        ) from exc
    except ValueError as exc:
        # The HTTP library's JSON error (a ValueError): something else answered on that URL.
        raise PushError(
            f"{url} did not answer as Grafana's HTTP API while {action}: {exc}"
        ) from exc
    except (GrafanaException, OSError) as exc:
        # The HTTP library's connection errors derive from OSError.
        raise PushError(f"cannot reach Grafana at {url} while {action}: {exc}") from exc


def _object(url: str, action: str, call: Callable[[], object]) -> dict[str, Any]:
    """Grafana's answer to `call`, which must be a JSON object."""
    with _asking(url, action):
        answer = call()
    if not isinstance(answer, dict):
        raise _not_grafana(url, action, answer)
    return answer


def _objects(url: str, action: str, call: Callable[[], object]) -> list[dict[str, Any]]:
    """Grafana's answer to `call`, which must be a JSON list of objects."""
    with _asking(url, action):
        answer = call()
    if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
        raise _not_grafana(url, action, answer)
    return answer


def _not_grafana(url: str, action: str, answer: object) -> PushError:
    # A proxy's or another server's page answered where Grafana's JSON API should be.
    shown = str(answer)[:80]
    return PushError(
        f"{url} did not answer as Grafana's HTTP API while {action}: got {shown!r}; "
        "is --url Grafana's root URL?"
    )


def _message(exc: GrafanaException) -> str:
    response = exc.response
    if isinstance(response, dict) and response.get("message"):
        return str(response["message"])
    return str(response or exc.message)


def _folder_uid(api: GrafanaApi, url: str, title: str) -> str:
    folders = _objects(url, f"listing folders to find {title!r}", api.folder.get_all_folders)
    for folder in folders:
        if folder.get("title") == title:
            return str(folder["uid"])
    created = _object(url, f"creating folder {title!r}", lambda: api.folder.create_folder(title))
    return str(created["uid"])


def _check_datasource(api: GrafanaApi, url: str, uid: str) -> None:
    datasource = _object(url, f"looking up data source uid {uid!r}",
                         lambda: api.datasource.get_datasource_by_uid(uid))
    kind = datasource.get("type")
    if kind != "influxdb":
        raise PushError(
            f"data source {uid!r} ({datasource.get('name')}) is of type {kind!r}; "
            "the dashboards query InfluxDB with InfluxQL"
        )


def push(
    url: str,
    token: str | None,
    *,
    folder: str | None = None,
    datasource_uid: str | None = None,
    directory: Path = DASHBOARDS_DIR,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Pushed]:
    """Save every dashboard of `directory` in the Grafana at `url`; return what Grafana saved.

    Args:
        url: Grafana's root URL; may carry `user:password@` instead of a token.
        token: a service account token (sent as a bearer token), or None for the URL's user.
        folder: the folder's title; created if missing. None saves into General.
        datasource_uid: preset the dashboards' data source variable to this InfluxDB source.
        directory: where the dashboard JSON models are.
        timeout: seconds for each request.
    """
    models = load_dashboards(directory)
    api_url = _api_url(url)
    if token is None and not urlsplit(api_url).password:
        raise PushError("no credentials: give --token, or user:password in --url")
    api = GrafanaApi.from_url(api_url, credential=token, timeout=timeout)
    shown = _without_password(url)
    folder_uid = _folder_uid(api, shown, folder) if folder else None
    if datasource_uid is not None:
        _check_datasource(api, shown, datasource_uid)
    pushed = []
    for model in models:
        body: dict[str, Any] = {
            "dashboard": _with_datasource(model, datasource_uid),
            "overwrite": True,
            "message": _COMMIT_MESSAGE,
        }
        if folder_uid is not None:
            body["folderUid"] = folder_uid
        saved = _object(shown, f"saving dashboard {model['title']!r}",
                        functools.partial(api.dashboard.update_dashboard, body))
        pushed.append(Pushed(
            uid=str(saved.get("uid", model["uid"])),
            title=str(model["title"]),
            url=str(saved.get("url", "")),
            version=int(saved.get("version", 0)),
        ))
    return pushed


def push_command(
    url: str | None,
    token: str | None,
    *,
    folder: str | None = None,
    datasource_uid: str | None = None,
    directory: Path | None = None,
) -> int:
    """`fireroom dashboards push`: push, print each saved dashboard; 1 with a message on failure."""
    if not url:
        print("error: give --url (or FIREROOM_GRAFANA_URL): Grafana's root URL", file=sys.stderr)
        return 1
    try:
        pushed = push(url, token, folder=folder, datasource_uid=datasource_uid,
                      directory=directory or DASHBOARDS_DIR)
    except PushError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = f"folder {folder!r}" if folder else "the General folder"
    print(f"pushed {len(pushed)} dashboard(s) to {_without_password(url)}, {where}:")
    for item in pushed:
        print(f"  {item.title} (uid {item.uid}, version {item.version}) {item.url}")
    return 0
