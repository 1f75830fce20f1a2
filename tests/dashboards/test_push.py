"""`fireroom dashboards push` against a real HTTP server on loopback that answers the few Grafana
endpoints the command calls, the way Grafana does, so grafana-client's real HTTP path runs.
Grafana itself is not installed here; the server records every request for the asserts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fireroom.cli import main
from fireroom.dashboards import DASHBOARDS_DIR, PushError, load_dashboards, push
from tests.servers import free_port

EDITOR = "glsa_editor_token"
VIEWER = "glsa_viewer_token"
INFLUX_UID = "fireroom-influxdb"
PROMETHEUS_UID = "prom"


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeGrafana:
    """State of the loopback Grafana: its folders, data sources and what it was sent."""

    url: str
    prefix: str = ""
    folders: list[dict[str, Any]] = field(default_factory=list)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    provisioned: set[str] = field(default_factory=set)  # uids loaded from provisioning files
    impostor: str | None = None  # a content type to answer everything with, as a non-Grafana
    datasources: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        INFLUX_UID: {"uid": INFLUX_UID, "name": "fireroom", "type": "influxdb"},
        PROMETHEUS_UID: {"uid": PROMETHEUS_UID, "name": "metrics", "type": "prometheus"},
    })

    def sent(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path == path]


def _handler(grafana: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `grafana.requests` instead."""

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?")[0]
            auth = self.headers.get("Authorization")
            grafana.requests.append(Request(method, path, auth, json.loads(raw) if raw else None))
            if grafana.impostor is not None:
                page = b"<html><body>Welcome to nginx!</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", grafana.impostor)
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            if not path.startswith(grafana.prefix + "/api/"):
                self._answer(404, {"message": "Not found"})
                return
            path = path.removeprefix(grafana.prefix)
            if auth not in (f"Bearer {EDITOR}", f"Bearer {VIEWER}"):
                self._answer(401, {"message": "Unauthorized"})
                return
            writes = method == "POST"
            if writes and auth == f"Bearer {VIEWER}":
                self._answer(403, {"message": "You'll need additional permissions to perform "
                                              "this action. Permissions needed: dashboards:create"})
                return
            body = json.loads(raw) if raw else None
            if (method, path) == ("GET", "/api/folders"):
                self._answer(200, grafana.folders)
            elif (method, path) == ("POST", "/api/folders"):
                folder = {"id": len(grafana.folders) + 1, "uid": f"f{len(grafana.folders) + 1}",
                          "title": body["title"]}
                grafana.folders.append(folder)
                self._answer(200, folder)
            elif method == "GET" and path.startswith("/api/datasources/uid/"):
                uid = path.rsplit("/", 1)[1]
                if uid in grafana.datasources:
                    self._answer(200, grafana.datasources[uid])
                else:
                    self._answer(404, {"message": "Data source not found"})
            elif (method, path) == ("POST", "/api/dashboards/db"):
                model = body["dashboard"]
                if model["uid"] in grafana.provisioned:
                    self._answer(400, {"message": "Cannot save provisioned dashboard"})
                    return
                old = grafana.dashboards.get(model["uid"])
                if old is not None and not body.get("overwrite"):
                    self._answer(412, {"message": "A dashboard with the same uid already exists",
                                       "status": "name-exists"})
                    return
                version = (old["version"] + 1) if old else 1
                grafana.dashboards[model["uid"]] = {**body, "version": version}
                self._answer(200, {"id": len(grafana.dashboards), "uid": model["uid"],
                                   "url": f"{grafana.prefix}/d/{model['uid']}/x",
                                   "status": "success", "version": version})
            else:
                self._answer(404, {"message": "Not found"})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    yield from _serve("")


@pytest.fixture
def grafana_under_path() -> Iterator[FakeGrafana]:
    yield from _serve("/grafana")


def _serve(prefix: str) -> Iterator[FakeGrafana]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    state = FakeGrafana(url=f"http://127.0.0.1:{port}{prefix}", prefix=prefix)
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, name="fake-grafana", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


SHIPPED = {model["uid"]: model for model in load_dashboards()}


def test_push_creates_the_folder_and_saves_every_dashboard(grafana: FakeGrafana) -> None:
    pushed = push(grafana.url, EDITOR, folder="Fire control room", datasource_uid=INFLUX_UID)

    assert sorted(p.uid for p in pushed) == sorted(SHIPPED)
    assert all(p.version == 1 and p.url.startswith("/d/") for p in pushed)
    assert {r.authorization for r in grafana.requests} == {f"Bearer {EDITOR}"}
    (created,) = grafana.sent("POST", "/api/folders")
    assert created.body == {"title": "Fire control room"}
    assert len(grafana.sent("GET", f"/api/datasources/uid/{INFLUX_UID}")) == 1
    saves = grafana.sent("POST", "/api/dashboards/db")
    assert len(saves) == len(SHIPPED)
    for save in saves:
        body = save.body
        assert body["overwrite"] is True
        assert body["folderUid"] == "f1"
        assert body["message"]
        model = body["dashboard"]
        shipped = SHIPPED[model["uid"]]
        assert model["id"] is None
        # Only the data source variable's current value differs from the shipped model.
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert variables["datasource"]["current"]["value"] == INFLUX_UID
        variables["datasource"]["current"] = {}
        assert model == {**shipped, "id": None}


def test_pushing_again_reuses_the_folder_and_updates_in_place(grafana: FakeGrafana) -> None:
    push(grafana.url, EDITOR, folder="Fire control room")
    again = push(grafana.url, EDITOR, folder="Fire control room")

    assert len(grafana.sent("POST", "/api/folders")) == 1
    assert {p.version for p in again} == {2}
    assert sorted(grafana.dashboards) == sorted(SHIPPED)


def test_without_a_folder_dashboards_go_to_general(grafana: FakeGrafana) -> None:
    push(grafana.url, EDITOR)

    assert grafana.sent("GET", "/api/folders") == []
    saves = grafana.sent("POST", "/api/dashboards/db")
    assert saves
    assert all("folderUid" not in s.body for s in saves)
    # Without --datasource-uid the variable keeps Grafana's default InfluxDB source.
    assert all(v["current"] == {} for s in saves for v in s.body["dashboard"]["templating"]["list"]
               if v["name"] == "datasource")


def test_grafana_under_a_sub_path(grafana_under_path: FakeGrafana) -> None:
    pushed = push(grafana_under_path.url, EDITOR)

    assert len(pushed) == len(SHIPPED)
    assert {r.path for r in grafana_under_path.requests} == {"/grafana/api/dashboards/db"}


def test_a_refused_token_says_so(grafana: FakeGrafana) -> None:
    with pytest.raises(PushError, match=r"refused the credentials.*401.*--token"):
        push(grafana.url, "glsa_wrong", folder="Fire control room")
    assert grafana.dashboards == {}


def test_a_token_without_write_permission_says_so(grafana: FakeGrafana) -> None:
    with pytest.raises(PushError, match=r"forbids creating folder .*403.*dashboards:create"):
        push(grafana.url, VIEWER, folder="Fire control room")


def test_an_unknown_data_source_is_reported_before_any_dashboard(grafana: FakeGrafana) -> None:
    with pytest.raises(PushError, match=r"data source uid 'nope'.*404.*Data source not found"):
        push(grafana.url, EDITOR, datasource_uid="nope")
    assert grafana.sent("POST", "/api/dashboards/db") == []


def test_a_data_source_of_another_type_is_refused(grafana: FakeGrafana) -> None:
    with pytest.raises(PushError, match=r"'prom' \(metrics\) is of type 'prometheus'"):
        push(grafana.url, EDITOR, datasource_uid=PROMETHEUS_UID)


def test_a_provisioned_dashboard_is_not_overwritten(grafana: FakeGrafana) -> None:
    grafana.provisioned.add("fireroom-water")
    with pytest.raises(PushError, match=r"refused saving dashboard .*\(400: Cannot save "
                                        r"provisioned dashboard\)"):
        push(grafana.url, EDITOR)


def test_a_wrong_url_path_is_reported_as_not_found(grafana_under_path: FakeGrafana) -> None:
    root = grafana_under_path.url.removesuffix("/grafana")
    with pytest.raises(PushError, match=r"404.*root URL, sub-path included"):
        push(root, EDITOR)


@pytest.mark.parametrize("content_type", ["text/html", "application/json"])
def test_another_server_is_not_taken_for_grafana(grafana: FakeGrafana, content_type: str) -> None:
    grafana.impostor = content_type
    with pytest.raises(PushError, match=r"did not answer as Grafana's HTTP API while listing"):
        push(grafana.url, EDITOR, folder="Fire control room")


def test_nothing_listening_is_reported(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PushError, match=r"cannot reach Grafana at http://127\.0\.0\.1"):
        push(url, EDITOR, timeout=2)


def test_no_credentials_is_refused_before_connecting() -> None:
    with pytest.raises(PushError, match="no credentials"):
        push("http://127.0.0.1:9", None)


def test_password_in_the_url_is_used_and_never_shown(grafana: FakeGrafana) -> None:
    url = grafana.url.replace("http://", "http://admin:s3cret@")
    with pytest.raises(PushError) as caught:
        push(url, None)  # basic auth: this server only takes tokens, so it answers 401
    assert "s3cret" not in str(caught.value)
    (first, *_) = grafana.requests
    assert first.authorization is not None
    assert first.authorization.startswith("Basic ")


def test_a_broken_dashboard_file_is_named(tmp_path: Path, grafana: FakeGrafana) -> None:
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(PushError, match=r"bad\.json: not a dashboard JSON model"):
        push(grafana.url, EDITOR, directory=tmp_path)
    assert grafana.requests == []


def test_command_line(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["dashboards", "push", "--url", grafana.url, "--token", EDITOR,
                 "--folder", "Fire control room", "--datasource-uid", INFLUX_UID])

    out = capsys.readouterr().out
    assert code == 0
    assert f"pushed {len(SHIPPED)} dashboard(s)" in out
    for model in SHIPPED.values():
        assert f"uid {model['uid']}" in out
    assert sorted(grafana.dashboards) == sorted(SHIPPED)


def test_command_line_error(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIREROOM_GRAFANA_TOKEN", "glsa_wrong")
    code = main(["dashboards", "push", "--url", grafana.url])

    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Grafana at http://127.0.0.1:")
    assert "401" in err


def test_the_shipped_directory_is_the_default() -> None:
    shipped = Path(__file__).resolve().parents[2] / "dashboards"
    assert shipped == DASHBOARDS_DIR
