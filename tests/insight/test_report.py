"""`joinedup insight report` on a linked and scored world: every count it writes, in the
JSON and in the HTML, passes the disclosure rule."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from disclosed import counts, passes
from riskworld import N1, N2, risk_world

from pipelines.cli import main
from risk_models import latest_risk_model, score_night

pytestmark = pytest.mark.slow

COUNT_KEYS = {"people", "reached", "cells", "row_totals", "column_totals", "total"}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rw = risk_world(tmp_path_factory)
    data = rw.data(tmp_path_factory.mktemp("insight"))
    patch = pytest.MonkeyPatch()
    patch.setenv("JOINEDUP_DATA", str(data))
    patch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    try:
        for night in (N1, N2):
            score_night(data / "warehouse.duckdb", night, latest_risk_model(data / "models"))
        out = data / "report"
        args = ["insight", "report", "--from", "2025-06-01", "--to", N2.isoformat()]
        assert main([*args, "--out", str(out)]) == 0
        return out
    finally:
        patch.undo()


def test_every_count_in_the_json_passes_the_rule(written: Path) -> None:
    report = json.loads((written / "insight.json").read_text())
    found_counts = counts(report, COUNT_KEYS)
    assert len(found_counts) > 100
    assert [c for c in found_counts if not passes(c)] == []
    for kind in ("served", "flagged"):
        assert set(report["reach"][kind]) == {"sex", "ethnicity", "age_band", "area"}
    assert report["reach"]["served"]["sex"]["people"] != "*"
    bands = {r["group"] for r in report["reach"]["served"]["age_band"]["rows"]}
    assert {"0-17", "25-44", "45-64", "65+"} <= bands
    assert report["patterns"]["events_by_month_and_type"]["rows"]


def test_every_count_in_the_html_passes_the_rule(written: Path) -> None:
    page = (written / "insight.html").read_text()
    found_counts = re.findall(r'<td class="count">([^<]*)</td>', page)
    assert len(found_counts) > 100
    assert [c for c in found_counts if not passes(c)] == []


def test_a_period_that_ends_before_it_starts_is_refused(
    written: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOINEDUP_DATA", str(written.parent))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    assert main(["insight", "report", "--from", "2026-11-02", "--to", "2026-11-01"]) == 2
    assert "before --from" in capsys.readouterr().err
