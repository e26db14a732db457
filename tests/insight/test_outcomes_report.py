"""The goal and how it went, recorded by the inbox's close action in a real store, reach
the warehouse with `joinedup alerts outcomes` and the outcomes of `joinedup insight
report`, every count through the disclosure rule; on the risk world, scored for both
nights, with alerts raised on the first."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
from riskworld import N1, N2, risk_world
from scoredalerts import alert_the_top_scored

from inbox.actions import close
from insight.disclosure import protect
from pipelines.cli import main
from risk_models.outcomes import outcome_config

pytestmark = pytest.mark.slow

NOW = dt.datetime.combine(N2 + dt.timedelta(days=2), dt.time(9, 0), tzinfo=dt.UTC)
CLOSER = "sam.okafor@csc.council.example"
# How the alerts were closed: (goal, how it went, how many)
PLAN = [
    ("improve", "improved", 12),
    ("improve", "worsened", 9),
    ("maintain", "held_steady", 15),
    ("maintain", "worsened", 3),
    ("prevent", "held_steady", 10),
    (None, None, 6),
]
GOALS = ["improve", "maintain", "prevent", "not recorded"]
PROGRESS = ["improved", "held_steady", "worsened", "not recorded"]


def _passes(value: Any) -> bool:
    if value == "*":
        return True
    number = int(value)
    return str(number) == str(value).strip() and not 1 <= number <= 7 and number % 5 == 0


def _published(counts: list[list[int]]) -> dict[str, Any]:
    shown = protect(counts)
    return {
        "cells": shown.cells,
        "row_totals": shown.row_totals,
        "column_totals": shown.column_totals,
        "total": shown.total,
    }


def _values(table: dict[str, Any]) -> list[Any]:
    """Every count of a published table: cells, then totals."""
    cells = [c for row in table["cells"] for c in row]
    return [*cells, *table["row_totals"], *table["column_totals"], table["total"]]


def _counts_of(table: dict[str, Any]) -> dict[str, Any]:
    return {k: table[k] for k in ("cells", "row_totals", "column_totals", "total")}


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rw = risk_world(tmp_path_factory)
    data = rw.data(tmp_path_factory.mktemp("outcomes"))
    patch = pytest.MonkeyPatch()
    patch.setenv("JOINEDUP_DATA", str(data))
    patch.setenv("JOINEDUP_STORE", f"sqlite:///{data / 'store.sqlite'}")  # for the commands
    patch.delenv("JOINEDUP_WAREHOUSE", raising=False)
    try:
        store = f"sqlite:///{data / 'store.sqlite'}"
        alerted = alert_the_top_scored(data / "warehouse.duckdb", store, (N1, N2), 55, NOW)
        plan = [(goal, progress) for goal, progress, n in PLAN for _ in range(n)]
        for reference, (goal, progress) in zip(alerted.references, plan, strict=True):
            outcome = "support_offered" if goal else "not_a_concern"
            aim = (goal or "", progress or "")
            close(alerted.engine, alerted.user, reference, 1, outcome, "", NOW, *aim)
        alerted.engine.dispose()
        assert main(["alerts", "outcomes"]) == 0
        out = data / "report"
        period = ["--from", N1.isoformat(), "--to", NOW.date().isoformat()]
        assert main(["insight", "report", *period, "--out", str(out)]) == 0
        return out
    finally:
        patch.undo()


def _warehouse(reported: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(reported.parent / "warehouse.duckdb"), read_only=True)


def test_the_goals_and_how_they_went_reach_the_warehouse(reported: Path) -> None:
    con = _warehouse(reported)
    try:
        found = Counter(con.execute("SELECT goal, progress FROM alert_outcomes").fetchall())
    finally:
        con.close()
    assert found == {(goal, progress): n for goal, progress, n in PLAN}


def test_the_report_counts_the_closed_alerts_by_goal_through_the_rule(reported: Path) -> None:
    outcomes = json.loads((reported / "insight.json").read_text())["outcomes"]
    planned = Counter({(g or "not recorded", p or "not recorded"): n for g, p, n in PLAN})
    table = outcomes["by_goal_and_progress"]
    assert (table["rows"], table["columns"]) == (GOALS, PROGRESS)
    counts = [[planned[(g, p)] for p in PROGRESS] for g in GOALS]
    assert _counts_of(table) == _published(counts)
    assert table["total"] == 55

    # Prevent is met where held steady with no serious event from the alert to closure.
    con = _warehouse(reported)
    try:
        serious = con.execute(
            """
            SELECT count(DISTINCT o.reference) FROM alert_outcomes o
            JOIN persons p ON p.person_id = o.person_id AND p.valid_to IS NULL
            JOIN events e ON e.source = p.source AND e.source_record_id = p.source_record_id
            WHERE o.goal = 'prevent' AND e.valid_to IS NULL AND e.type IN (SELECT unnest(?))
              AND e.date > o.alerted_night AND e.date <= CAST(o.closed_at AS DATE)
            """,
            [outcome_config().types],
        ).fetchall()[0][0]
    finally:
        con.close()
    met = outcomes["success_by_goal"]
    assert _counts_of(met) == _published([[12, 9], [15, 3], [10 - serious, serious]])
    for (shown_met, shown_not), rate in zip(met["cells"], met["rate"], strict=True):
        whole = isinstance(shown_met, int) and isinstance(shown_not, int)
        assert rate == (round(shown_met / (shown_met + shown_not), 3) if whole else "*")

    # Six months have not passed since any closure; each alert's person was scored again
    # on the second night, so each has a distance travelled.
    follow_up = outcomes["follow_up_by_goal"]
    assert follow_up["columns"][-1] == "not yet due"
    due = [[0, 0, 0, n] for n in (21, 18, 10, 6)]
    assert _counts_of(follow_up) == _published(due)
    trajectory = outcomes["trajectory_by_goal"]
    assert trajectory["columns"][-1] == "no later score"
    assert [row[-1] for row in trajectory["cells"]] == [0, 0, 0, 0]
    assert trajectory["total"] == 55
    assert all(isinstance(m, float) for m in trajectory["median_change"][:2])


def test_every_count_of_the_outcomes_passes_the_rule(reported: Path) -> None:
    outcomes = json.loads((reported / "insight.json").read_text())["outcomes"]
    counts = [v for table in outcomes.values() if isinstance(table, dict) for v in _values(table)]
    assert len(counts) > 60
    assert "*" in counts  # 3 maintain goals worsened, and 6 without a goal: hidden
    assert [c for c in counts if not _passes(c)] == []
    page = (reported / "insight.html").read_text()
    section = page[page.index("<h2>Outcomes of the alerts closed") :]
    shown = re.findall(r'<td class="count">([^<]*)</td>', section)
    assert len(shown) == len(counts)
    assert [c for c in shown if not _passes(c)] == []
