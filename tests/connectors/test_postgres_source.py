"""A SQL source loads the same from PostgreSQL as from SQLite: the same config, another URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from worldfiles import SOURCES_FILE, TEST_WORLD, partner_environment

from connectors.config import load_sources
from connectors.ingest import ingest_source
from connectors.warehouse import Warehouse
from world.partners.housing import copy_to


@pytest.mark.postgres
def test_housing_from_postgres_equals_housing_from_sqlite(
    world: Path, postgres_url: str, tmp_path: Path
) -> None:
    night = TEST_WORLD.night_dates()[0]
    copy_to(world / "extracts" / night.isoformat() / "housing" / "housing.sqlite", postgres_url)
    with partner_environment(world, "http://127.0.0.1:9", "unused"):
        housing = load_sources(SOURCES_FILE, only=["housing"])["housing"]
    from_pg = housing.model_copy(update={"location": postgres_url})
    results = {}
    for label, src in (("sqlite", housing), ("postgres", from_pg)):
        wh = Warehouse(tmp_path / f"{label}.duckdb")
        report = ingest_source(wh, "housing", src, night)
        assert report.status == "complete", report.line()
        results[label] = (
            report.rows_in,
            wh.frame("SELECT * EXCLUDE (loaded_by, file) FROM person_records ORDER BY 2"),
            wh.frame("SELECT * EXCLUDE (loaded_by, file) FROM events ORDER BY 2"),
        )
        wh.close()
    assert results["sqlite"][0] == results["postgres"][0]
    assert results["sqlite"][1].equals(results["postgres"][1])
    assert results["sqlite"][2].equals(results["postgres"][2])
