"""The example site, moved onto free loopback ports so tests never collide."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fireroom.config import Site, load_site
from tests.servers import Broker, free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"


def example_data(broker: Broker, data_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["mqtt"] = {"host": broker.host, "port": broker.port}
    data["data_dir"] = str(data_dir)
    for device in data["devices"]:
        device["transport"]["port"] = free_port()
    return data


def example_site(broker: Broker, directory: Path) -> tuple[Site, Path]:
    """Writes the moved config to `directory/site.yaml` and loads it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(example_data(broker, directory / "data")), encoding="utf-8")
    return load_site(path), path
