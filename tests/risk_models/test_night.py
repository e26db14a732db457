"""Which nights `joinedup risk score` scores: those named, or every linked night, each
linked, checked on a real DuckDB warehouse before anything is scored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from matching.tables import TABLES_DDL
from risk_models import FeaturesError, RiskError, nights_to_score

N1, N2, N3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """Linkage's tables, with nights N1 and N2 linked (N2 twice)."""
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute(TABLES_DDL).fetchall()
        con.execute(
            "INSERT INTO linkage_runs (night, model, threshold) VALUES"
            " (?, 'linkage-v1', 0.9), (?, 'linkage-v1', 0.9), (?, 'linkage-v2', 0.9)",
            [N2, N1, N2],
        ).fetchall()
    finally:
        con.close()
    return path


@pytest.mark.parametrize(
    ("named", "chosen"),
    [
        (None, [N1, N2]),
        ([N2], [N2]),
        ([N2, N1, N2], [N1, N2]),
    ],
)
def test_nights_to_score_are_linked_oldest_first(
    warehouse: Path, named: list[dt.date] | None, chosen: list[dt.date]
) -> None:
    assert nights_to_score(warehouse, named) == chosen


def test_a_night_not_linked_is_refused_with_the_nights_that_are(warehouse: Path) -> None:
    with pytest.raises(RiskError) as refused:
        nights_to_score(warehouse, [N1, N3])
    assert str(refused.value) == (
        "night 2026-11-03 not linked: linked nights run 2026-11-01 to 2026-11-02"
    )


def test_nothing_linked_yet(tmp_path: Path) -> None:
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(FeaturesError, match="the warehouse lacks table linkage_runs"):
        nights_to_score(empty)
    con = duckdb.connect(str(empty))
    con.execute(TABLES_DDL).fetchall()
    con.close()
    for named in (None, [N1]):
        with pytest.raises(RiskError, match="no night is linked yet: link a night first"):
            nights_to_score(empty, named)
