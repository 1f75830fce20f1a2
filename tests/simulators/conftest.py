from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fireroom.config import Site, load_site
from tests.servers import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"


@pytest.fixture(scope="session")
def example_site() -> Site:
    return load_site(EXAMPLE)


@pytest.fixture
def loopback_site(example_site: Site) -> Site:
    """The example site with every device moved to a free loopback port."""
    config = example_site.config.model_copy(deep=True)
    for device in config.devices:
        device.transport.host = "127.0.0.1"
        device.transport.port = free_port()
    return dataclasses.replace(example_site, config=config)
