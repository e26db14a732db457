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
from riskworld import N1, N2, risk_world
from servers import smtp_server

from alerts.store import ALERTS, open_store
from inbox import actions
from inbox.tables import DUTY_MANAGER, OUTCOMES
from inbox.users import add_user, find_user
from pipelines.cli import main
from risk_models import latest_risk_model, score_night

pytestmark = pytest.mark.slow

COUNT_KEYS = {"people", "reached", "cells", "row_totals", "column_totals", "total"}


def _counts(value: Any, key: str = "") -> list[Any]:
    """Every value held under a count's key, anywhere in the report."""
    if isinstance(value, dict):
        return [c for k, v in value.items() for c in _counts(v, k)]
    if isinstance(value, list):
        return [c for v in value for c in _counts(v, key)]
    return [value] if key in COUNT_KEYS else []


def _close_some(store: Path) -> None:
    """A duty manager closes the store's alerts in turn, each outcome in turn."""
    engine = open_store(f"sqlite:///{store}")
    try:
        now = dt.datetime.combine(N2, dt.time(9, 0))
        add_user(engine, "duty_manager", "a long password", DUTY_MANAGER, now)
        manager = find_user(engine, "duty_manager")
        assert manager is not None
        with engine.connect() as conn:
            alerts = conn.execute(sa.select(ALERTS.c.reference, ALERTS.c.version)).all()
        outcomes = list(OUTCOMES)
        for i, (reference, version) in enumerate(alerts[::2]):
            outcome = outcomes[i % len(outcomes)]
            actions.close(engine, manager, reference, version, outcome, "", now)
    finally:
        engine.dispose()


def _within_rounding(shown: Any, true: int) -> bool:
    return shown != "*" and abs(int(shown) - true) <= 2


def _passes(value: Any) -> bool:
    if value == "*":
        return True
    number = int(value)
    return str(number) == str(value).strip() and not 1 <= number <= 7 and number % 5 == 0


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
        patch.delenv("JOINEDUP_STORE", raising=False)
        with smtp_server() as smtp:
            patch.setenv("JOINEDUP_SMTP_URL", f"mailto://127.0.0.1:{smtp.port}")
            nights = [a for night in (N1, N2) for a in ("--night", night.isoformat())]
            assert main(["alerts", "run", *nights]) == 0
        _close_some(data / "store.sqlite")
        out = data / "report"
        args = ["insight", "report", "--from", "2025-06-01", "--to", N2.isoformat()]
        assert main([*args, "--out", str(out)]) == 0
        return out
    finally:
        patch.undo()


def test_every_count_in_the_json_passes_the_rule(written: Path) -> None:
    report = json.loads((written / "insight.json").read_text())
    counts = _counts(report)
    assert len(counts) > 100
    assert [c for c in counts if not _passes(c)] == []
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
    assert [c for c in counts if not _passes(c)] == []


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
