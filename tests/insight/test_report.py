"""`joinedup insight report` on a linked and scored world: every count it writes, in the
JSON and in the HTML, passes the disclosure rule."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from alertedworld import alerted_data, passes, report_counts
from riskworld import N2

from alerts.store import ALERTS, open_store
from inbox.tables import OUTCOMES
from pipelines.cli import main

pytestmark = pytest.mark.slow


def _within_rounding(shown: Any, true: int) -> bool:
    return shown != "*" and abs(int(shown) - true) <= 2


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = alerted_data(tmp_path_factory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JOINEDUP_DATA", str(data))
        patch.delenv("JOINEDUP_WAREHOUSE", raising=False)
        patch.delenv("JOINEDUP_STORE", raising=False)
        out = data / "report"
        args = ["insight", "report", "--from", "2025-06-01", "--to", N2.isoformat()]
        assert main([*args, "--out", str(out)]) == 0
    return out


def test_every_count_in_the_json_passes_the_rule(written: Path) -> None:
    report = json.loads((written / "insight.json").read_text())
    counts = report_counts(report)
    assert len(counts) > 100
    assert [c for c in counts if not passes(c)] == []
    for kind in ("served", "flagged"):
        assert set(report["reach"][kind]) == {"sex", "ethnicity", "age_band", "area"}
    assert report["reach"]["served"]["sex"]["people"] != "*"
    bands = {r["group"] for r in report["reach"]["served"]["age_band"]["rows"]}
    assert {"0-17", "25-44", "45-64", "65+"} <= bands
    assert report["patterns"]["events_by_month_and_type"]["rows"]


def test_every_count_in_the_html_passes_the_rule(written: Path) -> None:
    page = (written / "insight.html").read_text()
    counts = re.findall(r'<td class="count">([^<]*)</td>', page)
    assert len(counts) > 100
    assert [c for c in counts if not passes(c)] == []


def test_a_period_that_ends_before_it_starts_is_refused(
    written: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOINEDUP_DATA", str(written.parent))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    assert main(["insight", "report", "--from", "2026-11-02", "--to", "2026-11-01"]) == 2
    assert "before --from" in capsys.readouterr().err


def test_referrals_by_source_area_and_alerts_by_team_are_counted(written: Path) -> None:
    report = json.loads((written / "insight.json").read_text())
    patterns = report["patterns"]
    assert {"JU1", "JU2"} <= set(patterns["events_by_month_and_area"]["columns"])
    by_source = patterns["referrals_by_month_and_source"]
    assert {"Police", "School", "Family member"} <= set(by_source["columns"])
    con = duckdb.connect(str(written.parent / "warehouse.duckdb"), read_only=True)
    try:
        period = [dt.date(2025, 6, 1), N2]
        (referred,) = con.execute(
            "SELECT count(*) FROM events WHERE valid_to IS NULL AND referral_source IS NOT NULL"
            " AND date BETWEEN ? AND ?",
            period,
        ).fetchall()[0]
    finally:
        con.close()
    assert referred > 100 and _within_rounding(by_source["total"], referred)
    alerts = report["alerts"]
    engine = open_store(f"sqlite:///{written.parent / 'store.sqlite'}")
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(ALERTS)).scalar_one()
            teams = {t for (t,) in conn.execute(sa.select(ALERTS.c.routed_team).distinct())}
    finally:
        engine.dispose()
    by_team = alerts["alerts_by_month_and_team"]
    assert stored > 20 and _within_rounding(by_team["total"], stored)
    assert set(by_team["columns"]) == teams
    closed = alerts["closures_by_team_and_outcome"]
    assert _within_rounding(closed["total"], (stored + 1) // 2)
    assert set(closed["columns"]) == set(OUTCOMES)
