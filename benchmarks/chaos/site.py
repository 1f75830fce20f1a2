"""The campaign's site: the example site on loopback, its panel behind a hostile proxy.

Two versions of one site: the processes' (the panel at the proxy's port) and the simulators'
(the panel at its real port behind the proxy). Alerts go to the campaign's webhook receiver; the
panel reports by exception, so a lost telemetry message matters.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fireroom.config import Site, parse_site
from tests.servers import listen_ports

__all__ = ["PANEL", "ChaosSite", "build_site"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"
PANEL = "facp-1"


@dataclass(frozen=True, slots=True)
class ChaosSite:
    config: Path  # what the fireroom processes read
    site: Site  # the same, parsed
    simulated: Site  # the simulators' copy: the panel at `panel_port`
    panel_port: int  # the simulated panel, behind the proxy
    proxy_port: int  # the panel as the gateway sees it
    broker_port: int
    rules_broker_port: int  # the MQTT drop proxy in front of the broker, for the rules service
    hook_port: int
    api_port: int


def build_site(root: Path, *, gone_after: float) -> ChaosSite:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    devices = data["devices"]
    ports = listen_ports(len(devices) + 6)
    broker, rules_broker, hook, api, panel_port, proxy_port = ports[:6]
    data["mqtt"] = {"host": "127.0.0.1", "port": broker}
    data["data_dir"] = str(root / "data")
    data["monitoring"] = {"heartbeat_seconds": 1.0, "gone_after_seconds": gone_after}
    for device, port in zip(devices, ports[6:], strict=True):
        device["transport"]["port"] = port
        if device["id"] == PANEL:
            device["transport"]["port"] = proxy_port
            device["report"] = {"by_exception": True, "integrity_seconds": 60}
    data["notifications"] = {
        "channels": [{"id": "hook", "type": "webhook", "url": f"http://127.0.0.1:{hook}/"}],
        "routes": [{"match": {"severity": ["critical"]}, "channels": ["hook"],
                    "events": ["raised", "retriggered"]}],
    }
    config = root / "site.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    simulated = copy.deepcopy(data)
    for device in simulated["devices"]:
        if device["id"] == PANEL:
            device["transport"]["port"] = panel_port
    return ChaosSite(
        config=config,
        site=parse_site(data, source=str(config)),
        simulated=parse_site(simulated, source="chaos simulators"),
        panel_port=panel_port,
        proxy_port=proxy_port,
        broker_port=broker,
        rules_broker_port=rules_broker,
        hook_port=hook,
        api_port=api,
    )
