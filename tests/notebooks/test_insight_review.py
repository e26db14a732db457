"""The analyst's insight notebook, run headless and in this process on the risk world,
scored for both nights with alerts closed through the inbox: the report's reach, patterns
and outcomes, every count as the disclosure rule publishes it, nothing personal printed."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from notebookrun import assert_nothing_personal, run_in_process
from riskworld import N1, N2, RiskWorld, risk_world
from scoredalerts import alert_the_top_scored

from inbox.actions import close
from inbox.outcomes import copy_outcomes
from insight.report import build_report

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "insight_review.py"
NOW = dt.datetime.combine(N2, dt.time(9, 0), tzinfo=dt.UTC)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rw(tmp_path_factory: pytest.TempPathFactory) -> RiskWorld:
    return risk_world(tmp_path_factory)


@pytest.fixture
def data(rw: RiskWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Both nights scored; 30 of the first night's highest scored alerted and closed, 20
    to improve (improved) and 10 to maintain (held steady)."""
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    data = rw.data(tmp_path / "data")
    warehouse = data / "warehouse.duckdb"
    store = f"sqlite:///{data / 'store.sqlite'}"
    alerted = alert_the_top_scored(warehouse, store, (N1, N2), 30, NOW)
    for i, reference in enumerate(alerted.references):
        aim = ("improve", "improved") if i < 20 else ("maintain", "held_steady")
        close(alerted.engine, alerted.user, reference, 1, "support_offered", "", NOW, *aim)
    alerted.engine.dispose()
    copy_outcomes(store, warehouse, NOW)
    return data


def _passes(value: str) -> bool:
    return value == "*" or (int(value) % 5 == 0 and not 1 <= int(value) <= 7)


def _headless() -> subprocess.CompletedProcess[str]:
    """The notebook as CI and an analyst's script run it."""
    return subprocess.run(
        [sys.executable, str(NOTEBOOK)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
        check=False,
    )


def test_headless_prints_the_aggregates_and_nothing_personal(data: Path) -> None:
    done = _headless()
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "insight over 365 days: counts from 1 to 7 hidden, the rest rounded to 5" in out
    assert re.search(r"reach, people served by ethnicity: \d+ groups; reached less", out)
    assert "patterns, events by month and type: " in out
    assert "outcomes: 30 alerts closed in the period; rate met by goal: improve 1.0; " in out
    # Nothing about a person: no ids, no dates, no names of anyone in the warehouse.
    assert_nothing_personal(done.stdout + done.stderr, data / "warehouse.duckdb")


def test_the_notebook_shows_the_reports_counts_for_the_period_chosen(data: Path) -> None:
    start = N1 - dt.timedelta(days=90)
    _, defs = run_in_process(
        NOTEBOOK, {"warehouse": str(data / "warehouse.duckdb"), "start": start, "end": N2}
    )
    report = build_report(data / "warehouse.duckdb", start, N2)
    # The notebook's report is the report of the period chosen. (A person's area is the
    # mode of their records' postcode districts, which DuckDB breaks ties of as it goes:
    # which group a few people fall in can differ between two builds, so reach is
    # compared by its totals.)
    seen = defs["report"]
    for part in ("period", "rule", "patterns", "outcomes"):
        assert seen[part] == report[part]
    for kind, tables in report["reach"].items():
        for by, table in tables.items():
            found = seen["reach"][kind][by]
            assert (found["people"], found["reached"]) == (table["people"], table["reached"])
    served = defs["reach_frames"][("served", "sex")]
    assert served["people"].to_list() == [
        str(r["people"]) for r in report["reach"]["served"]["sex"]["rows"]
    ]
    goals = defs["outcome_frames"]["by_goal_and_progress"]
    assert goals["goal"].to_list() == ["improve", "maintain", "prevent", "not recorded", "all"]
    assert goals.row(4, named=True)["all"] == "30"
    assert goals.row(0, named=True)["improved"] == "20"
    assert defs["rates"]["rate met"].to_list()[:2] == ["1.0", "1.0"]
    # Every count the notebook shows passes the rule.
    frames: list[pl.DataFrame] = [
        *defs["pattern_frames"].values(),
        *defs["outcome_frames"].values(),
    ]
    shown = [v for f in frames for c in f.columns[1:] for v in f[c].to_list()]
    shown += [v for f in defs["reach_frames"].values() for v in f["people"].to_list()]
    assert len(shown) > 100
    assert [v for v in shown if not _passes(v)] == []


def test_without_a_warehouse_the_notebook_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOINEDUP_WAREHOUSE", str(tmp_path / "none.duckdb"))
    done = _headless()
    assert done.returncode == 1
    assert "load and link some nights first (joinedup run)" in done.stderr
