"""Where a site's test records live, and the engine and register opened on them."""

from __future__ import annotations

from pathlib import Path

from fireroom.clock import Clock
from fireroom.config import Site
from services.compliance.engine import ComplianceEngine
from services.compliance.records import RecordStore
from services.compliance.register import ComplianceRegister, site_obligations

__all__ = ["RECORDS_DATABASE", "open_engine", "open_register"]

# Beside the incident store's fireroom.sqlite3 in the data directory.
RECORDS_DATABASE = "compliance.sqlite3"


def open_engine(site: Site, data_dir: Path, clock: Clock) -> ComplianceEngine:
    """The compliance engine for the rules service, on `data_dir`'s record store."""
    records = RecordStore(data_dir / RECORDS_DATABASE, clock)
    return ComplianceEngine(site, site_obligations(site), clock, records)


def open_register(site: Site, data_dir: Path, clock: Clock) -> ComplianceRegister:
    """The compliance register for the API, on the same record store."""
    return ComplianceRegister(site, RecordStore(data_dir / RECORDS_DATABASE, clock), clock)
