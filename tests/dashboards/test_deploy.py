"""docker-compose.yml and the Grafana provisioning files, checked by reading them: no Docker
engine runs here, so the services, ports, mounts, environment and the files they point at are
cross-checked against each other and against the repository."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from fireroom.cli import _parser
from fireroom.config import load_site

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
PROVISIONING = ROOT / "dashboards" / "provisioning"
DATASOURCES: dict[str, Any] = yaml.safe_load(
    (PROVISIONING / "datasources" / "fireroom.yaml").read_text("utf-8"))
PROVIDERS: dict[str, Any] = yaml.safe_load(
    (PROVISIONING / "dashboards" / "fireroom.yaml").read_text("utf-8"))

FIREROOM = ("simulators", "gateway", "rules", "api")
INFLUX_ENV = {"FIREROOM_INFLUX_URL", "FIREROOM_INFLUX_API", "FIREROOM_INFLUX_DATABASE",
              "FIREROOM_INFLUX_ORG", "FIREROOM_INFLUX_BUCKET", "FIREROOM_INFLUX_TOKEN",
              "FIREROOM_INFLUX_USERNAME", "FIREROOM_INFLUX_PASSWORD"}
APP = "/app"  # the Dockerfile's WORKDIR, where the repository is copied

# ${VAR}, ${VAR:-default}, ${VAR-default}: compose's and Grafana's substitution syntax.
_SUBSTITUTION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def resolve(text: str, environment: Mapping[str, str] | None = None) -> str:
    """Substitute as compose (defaults) or Grafana (its container's environment) would."""

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if environment is not None and name in environment:
            return environment[name]
        if default is None:
            raise AssertionError(f"${{{name}}} has no value and no default")
        return default

    return _SUBSTITUTION.sub(value, text)


def environment(service: str) -> dict[str, str]:
    """A service's environment as the container sees it with no .env file."""
    given = SERVICES[service].get("environment") or {}
    assert isinstance(given, dict), f"{service}: environment as a mapping"
    return {key: resolve(str(value)) for key, value in given.items()}


def mounts(service: str) -> list[tuple[str, str]]:
    """(source, target) of each volume of a service."""
    out = []
    for entry in SERVICES[service].get("volumes", []):
        source, target, *_ = entry.split(":")
        out.append((source, target))
    return out


def published(service: str) -> set[tuple[int, int]]:
    pairs = set()
    for entry in SERVICES[service].get("ports", []):
        host, container = str(entry).split(":")
        pairs.add((int(host), int(container)))
    return pairs


def test_the_whole_stack_is_there() -> None:
    assert set(SERVICES) == {"mosquitto", "influxdb", "grafana", *FIREROOM}
    assert SERVICES["influxdb"]["image"].startswith("influxdb:2.7")
    assert SERVICES["grafana"]["image"].split(":")[0] in ("grafana/grafana", "grafana/grafana-oss")
    assert SERVICES["mosquitto"]["image"].startswith("eclipse-mosquitto:")
    for name in FIREROOM:
        assert SERVICES[name]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()


def test_ports() -> None:
    assert published("grafana") == {(3000, 3000)}
    assert published("api") == {(8000, 8000)}
    assert published("influxdb") == {(8086, 8086)}
    assert published("mosquitto") == {(1883, 1883)}
    listener = (ROOT / "deploy" / "mosquitto.conf").read_text("utf-8").split()
    assert listener[:2] == ["listener", "1883"]


def test_every_substitution_has_a_default() -> None:
    """`docker compose up` must work without an .env file."""
    text = (ROOT / "docker-compose.yml").read_text("utf-8")
    for name, default in _SUBSTITUTION.findall(text):
        assert default, f"${{{name}}} needs a :-default"
    assert "$" not in resolve(text).replace("$$", "")


def test_mounted_files_exist_and_named_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    used = set()
    for service in SERVICES:
        for source, target in mounts(service):
            assert target.startswith("/"), f"{service}: {target}"
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{service} mounts missing {source}"
            else:
                used.add(source)
    assert used == declared


def test_depends_on_names_services() -> None:
    for name, service in SERVICES.items():
        depends = service.get("depends_on") or []
        assert set(depends) <= set(SERVICES), name
        assert name not in depends


def test_influxdb_is_set_up_on_first_start() -> None:
    env = environment("influxdb")
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key in ("USERNAME", "PASSWORD", "ORG", "BUCKET", "ADMIN_TOKEN"):
        assert env[f"DOCKER_INFLUXDB_INIT_{key}"], key
    assert len(env["DOCKER_INFLUXDB_INIT_PASSWORD"]) >= 8  # influx setup refuses shorter ones
    assert {target for _, target in mounts("influxdb")} >= {"/var/lib/influxdb2"}


@pytest.mark.parametrize("service", ["gateway", "rules"])
def test_fireroom_writes_to_the_influxdb_service(service: str) -> None:
    env = environment(service)
    influx = environment("influxdb")
    assert {key for key in env if key.startswith("FIREROOM_INFLUX_")} <= INFLUX_ENV
    url = urlsplit(env["FIREROOM_INFLUX_URL"])
    assert url.hostname == "influxdb"
    assert url.hostname in SERVICES
    assert (url.port, url.port) in published("influxdb")
    assert env["FIREROOM_INFLUX_API"] == "v2"
    assert env["FIREROOM_INFLUX_ORG"] == influx["DOCKER_INFLUXDB_INIT_ORG"]
    assert env["FIREROOM_INFLUX_BUCKET"] == influx["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert env["FIREROOM_INFLUX_TOKEN"] == influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    assert "influxdb" in SERVICES[service]["depends_on"]


def test_the_environment_names_are_the_sinks_own() -> None:
    """The gateway's InfluxDB settings read these very names."""
    settings = importlib.import_module("gateway.influx.settings")
    read = set(settings.ENVIRONMENT.values())
    for service in ("gateway", "rules"):
        assert {k for k in environment(service) if k.startswith("FIREROOM_INFLUX_")} <= read


@pytest.mark.parametrize("service", FIREROOM)
def test_fireroom_commands_parse_and_their_site_exists(service: str) -> None:
    command = SERVICES[service]["command"]
    args = _parser().parse_args(command)
    assert args.command == command[0]
    config = Path(str(args.config))
    assert config.is_relative_to(APP)
    site = load_site(ROOT / config.relative_to(APP))
    assert site.config.mqtt.host in SERVICES
    assert (site.config.mqtt.port, site.config.mqtt.port) in published(site.config.mqtt.host)
    assert {device.transport.host for device in site.config.devices} == {"simulators"}
    assert site.config.data_dir == "/data"


def test_services_with_state_keep_it_in_volumes() -> None:
    assert ("gateway-data", "/data") in mounts("gateway")
    assert ("fireroom-data", "/data") in mounts("rules")
    assert ("fireroom-data", "/data") in mounts("api")


# ------------------------------------------------------------------------ Grafana provisioning
def _grafana_target(source: str) -> str:
    for mounted, target in mounts("grafana"):
        if Path(ROOT / mounted).resolve() == (ROOT / source).resolve():
            return target
    raise AssertionError(f"grafana does not mount {source}")


def test_grafana_mounts_the_provisioning_files() -> None:
    assert _grafana_target("dashboards/provisioning/datasources") == (
        "/etc/grafana/provisioning/datasources")
    assert _grafana_target("dashboards/provisioning/dashboards") == (
        "/etc/grafana/provisioning/dashboards")
    assert "influxdb" in SERVICES["grafana"]["depends_on"]


def test_the_data_source_reaches_the_bucket_fireroom_writes() -> None:
    (source,) = DATASOURCES["datasources"]
    grafana = environment("grafana")
    writer = environment("gateway")
    text = yaml.safe_dump(source)
    for name, _ in _SUBSTITUTION.findall(text):
        assert name in grafana, f"grafana's environment lacks {name}"
    resolved = yaml.safe_load(resolve(text, grafana))
    assert resolved["type"] == "influxdb"
    assert resolved["access"] == "proxy"
    assert resolved["isDefault"] is True
    assert resolved["url"] == writer["FIREROOM_INFLUX_URL"]
    json_data, secure = resolved["jsonData"], resolved["secureJsonData"]
    assert json_data["version"] == "InfluxQL"
    # InfluxDB 2.7's virtual DBRP mapping names the database after the bucket.
    assert json_data["dbName"] == writer["FIREROOM_INFLUX_BUCKET"]
    assert json_data["httpHeaderName1"] == "Authorization"
    assert secure["httpHeaderValue1"] == f"Token {writer['FIREROOM_INFLUX_TOKEN']}"


def test_the_dashboard_provider_reads_the_mounted_dashboards() -> None:
    (provider,) = PROVIDERS["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    assert _grafana_target("dashboards") == path
    shipped = sorted(p.name for p in (ROOT / "dashboards").glob("*.json"))
    assert len(shipped) >= 3
    home = environment("grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(path + "/")
    assert home.removeprefix(path + "/") in shipped


def test_the_provisioned_data_source_fits_the_dashboards_variable() -> None:
    (source,) = DATASOURCES["datasources"]
    for path in (ROOT / "dashboards").glob("*.json"):
        model = json.loads(path.read_text("utf-8"))
        (variable,) = [v for v in model["templating"]["list"] if v["type"] == "datasource"]
        assert variable["query"] == source["type"], path.name
