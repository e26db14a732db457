"""Connectors: take each partner's extract as it is, standardise it, quarantine what is bad.

The public face; the parts live in their modules (docs/connectors.md): `config` (the
sources config), `extract` (files, SQL, REST), `standardise` and `normalise` (the
contracts' fields), `ingest` (a night's loads, guards, releases), `check` (`sources
check`), `warehouse` (the DuckDB warehouse with history).
"""

from connectors.check import CheckError, check_source, with_sample
from connectors.config import (
    CONTRACT_FIELDS,
    REQUIRED_FIELDS,
    ConfigError,
    Source,
    load_sources,
    source_names,
    sources_in,
)
from connectors.extract import ExtractError, extract_table
from connectors.ingest import (
    LoadReport,
    ReleaseError,
    ingest_night,
    ingest_source,
    load_line,
    night_lines,
    record_failure,
    release_load,
)
from connectors.standardise import QUARANTINE_SCHEMA, standardise
from connectors.warehouse import CONTRACT_COLUMNS, Warehouse, WarehouseBusy

__all__ = [
    "CONTRACT_COLUMNS",
    "CONTRACT_FIELDS",
    "QUARANTINE_SCHEMA",
    "REQUIRED_FIELDS",
    "CheckError",
    "ConfigError",
    "ExtractError",
    "LoadReport",
    "ReleaseError",
    "Source",
    "Warehouse",
    "WarehouseBusy",
    "check_source",
    "extract_table",
    "ingest_night",
    "ingest_source",
    "load_line",
    "load_sources",
    "night_lines",
    "record_failure",
    "release_load",
    "source_names",
    "sources_in",
    "standardise",
    "with_sample",
]
