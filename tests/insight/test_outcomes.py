"""Outcomes over time: when a goal is met, each closed alert's trajectory and six-month
check read from a real DuckDB warehouse (made with the project's own table definitions),
and the report's outcome tables, every count through the disclosure rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from connectors.warehouse import Warehouse
from insight.disclosure import SUPPRESSED, DisclosureRule, Protected, recoverable
from insight.outcomes import SCHEMA, closed_alerts, outcomes_section, success
from matching.tables import TABLES_DDL
from risk_models import ALERT_OUTCOMES_DDL, SCORES_DDL

D = dt.date.fromisoformat


@pytest.mark.parametrize(
    ("goal", "progress", "serious", "met"),
    [
        ("improve", "improved", False, True),
        ("improve", "held_steady", False, False),
        ("improve", "worsened", False, False),
        ("improve", "improved", True, True),  # a serious event is the prevent goal's measure
        ("maintain", "improved", False, True),
        ("maintain", "held_steady", False, True),  # holding steady is a success here
        ("maintain", "worsened", False, False),
        ("maintain", "held_steady", True, True),
        ("prevent", "improved", False, True),
        ("prevent", "held_steady", False, True),
        ("prevent", "worsened", False, False),
        ("prevent", "held_steady", True, False),  # a serious event before closure: not met
        ("prevent", "improved", True, False),
        (None, None, False, None),  # no goal recorded: not judged
        (None, None, True, None),
    ],
)
def test_a_goal_is_met_as_the_rules_say(
    goal: str | None, progress: str | None, serious: bool, met: bool | None
) -> None:
    frame = pl.DataFrame(
        {"goal": [goal], "progress": [progress], "serious": [serious]},
        schema={"goal": pl.String, "progress": pl.String, "serious": pl.Boolean},
    )
    found = frame.select(success(pl.col("goal"), pl.col("progress"), pl.col("serious")))
    assert found.item() is met


# The tiny warehouse's persons: (person_id, one record's source and id).
PERSONS = {"PA": "rA", "PB": "rB", "PC": "rC", "PD": "rD", "PE": "rE", "PZ": "rZ"}
# (person_id, night, score, band)
SCORES = [
    ("PA", "2025-01-01", 0.20, "medium"),  # before the alert
    ("PA", "2025-01-10", 0.40, "very_high"),  # the alert's night
    ("PA", "2025-02-01", 0.30, "very_high"),  # up to closure
    ("PA", "2025-06-01", 0.10, "medium"),  # in the six months after closure
    ("PA", "2025-09-01", 0.05, "low"),  # after them: not the follow-up's score
    ("PB", "2025-01-10", 0.50, "very_high"),
    ("PB", "2025-03-01", 0.25, "high"),  # high, in the six months after closure
    ("PC", "2025-01-10", 0.35, "very_high"),
    ("PD", "2025-08-01", 0.30, "very_high"),
    ("PD", "2025-08-15", 0.32, "very_high"),  # up to closure; the follow-up is not due
    ("PE", "2025-01-10", 0.31, "very_high"),  # nothing scored after the alert
]
# (person_id, record, type, date, still current)
EVENTS = [
    ("PB", "rB", "safeguarding_enquiry", "2025-01-20", True),  # between alert and closure
    ("PC", "rC", "serious_incident", "2025-04-01", True),  # after closure
    ("PA", "rA", "school_exclusion", "2025-04-01", True),  # not a serious type
    ("PA", "rA", "serious_incident", "2025-05-01", False),  # corrected away since
]
# reference: (person_id, alerted_night, score, closed_at, goal, progress)
ALERTS = {
    "A1": ("PA", "2025-01-10", 0.40, "2025-02-15 10:00", "improve", "improved"),
    "B1": ("PB", "2025-01-10", 0.50, "2025-02-15 11:00", "prevent", "held_steady"),
    "C1": ("PC", "2025-01-10", 0.35, "2025-02-15 12:00", "prevent", "held_steady"),
    "D1": ("PD", "2025-08-01", 0.30, "2025-08-20 09:00", "maintain", "held_steady"),
    "E1": ("PE", "2025-01-10", 0.31, "2025-02-16 09:00", None, None),
    "Z1": ("PZ", "2024-11-01", 0.33, "2024-12-01 09:00", "improve", "worsened"),  # before
}


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    Warehouse(path).close()  # the contract tables: events, person_records, involvements
    con = duckdb.connect(str(path))
    try:
        con.execute(TABLES_DDL)
        con.execute(SCORES_DDL)
        con.execute(ALERT_OUTCOMES_DDL)
        for person_id, record in PERSONS.items():
            con.execute(
                "INSERT INTO persons VALUES (?, 'health', ?, ?, DATE '2024-01-01', NULL)",
                [f"health:{record}", record, person_id],
            )
        for person_id, night, score, band in SCORES:
            con.execute(
                "INSERT INTO scores (night, person_id, score, band, model_version, reasons, "
                "indicators, change) VALUES (?, ?, ?, ?, 'risk-v1', '[]', '[]', 'same')",
                [D(night), person_id, score, band],
            )
        for i, (_, record, kind, day, current) in enumerate(EVENTS):
            con.execute(
                "INSERT INTO events (source, event_id, source_record_id, type, date, row_hash, "
                "valid_from, valid_to, loaded_by) VALUES ('health', ?, ?, ?, ?, 'h', "
                "DATE '2024-01-01', ?, 'test')",
                [f"e{i}", record, kind, D(day), None if current else D("2025-06-01")],
            )
        for ref, (person_id, night, score, closed, goal, progress) in ALERTS.items():
            con.execute(
                "INSERT INTO alert_outcomes (reference, person_id, alerted_night, kind, band, "
                "score, routed_team, outcome, closed_at, copied_at, goal, progress) VALUES "
                "(?, ?, ?, 'new_high', 'very_high', ?, 'csc', 'support_offered', ?, ?, ?, ?)",
                [ref, person_id, D(night), score, closed, closed, goal, progress],
            )
    finally:
        con.close()
    return path


def _closed(warehouse: Path, start: str = "2025-01-01", end: str = "2025-12-31") -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return closed_alerts(con, D(start), D(end))
    finally:
        con.close()


def test_each_closed_alert_has_its_success_trajectory_and_six_month_check(
    warehouse: Path,
) -> None:
    found = _closed(warehouse)
    assert found.columns == list(SCHEMA)
    rows = {r["reference"]: r for r in found.iter_rows(named=True)}
    assert sorted(rows) == ["A1", "B1", "C1", "D1", "E1"]  # Z1 was closed before the period

    a = rows["A1"]
    assert (a["success"], a["serious_before_closure"]) == (True, False)
    assert (a["score_before"], a["score_at_alert"]) == (0.20, 0.40)
    # Six months after closure have passed (the newest scored night is 2025-09-01): the
    # trajectory runs to the last night scored within them, not beyond.
    assert (a["trajectory_to"], a["later_night"], a["score_later"]) == (
        "follow-up",
        D("2025-06-01"),
        0.10,
    )
    assert a["score_change"] == pytest.approx(-0.30)
    assert a["follow_up_on"] == D("2025-08-16")
    assert a["follow_up"] == "clear"  # a non-serious event, and one corrected away

    b = rows["B1"]  # to prevent; held steady, but a serious event came before closure
    assert (b["success"], b["serious_before_closure"]) == (False, True)
    assert b["follow_up"] == "high band"
    assert b["score_change"] == pytest.approx(-0.25)

    c = rows["C1"]  # to prevent; met at closure, a serious event in the six months after
    assert (c["success"], c["follow_up"]) == (True, "serious event")
    assert (c["score_later"], c["score_change"]) == (None, None)

    d = rows["D1"]  # held steady on a maintain goal: a success; six months not yet passed
    assert (d["success"], d["follow_up"], d["trajectory_to"]) == (True, "not yet due", "closure")
    assert d["score_change"] == pytest.approx(0.02)

    e = rows["E1"]  # no goal: not judged; nothing scored before or after the alert
    assert (e["success"], e["score_before"], e["score_change"]) == (None, None, None)
    assert e["follow_up"] == "clear"


def test_the_period_counts_alerts_by_the_day_they_were_closed(warehouse: Path) -> None:
    assert _closed(warehouse, "2024-12-01", "2024-12-01")["reference"].to_list() == ["Z1"]
    assert _closed(warehouse, "2025-02-16", "2025-08-19")["reference"].to_list() == ["E1"]


def test_a_warehouse_without_outcomes_gives_none(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    Warehouse(path).close()
    found = _closed(path)
    assert found.is_empty() and found.columns == list(SCHEMA)
    section = outcomes_section(found, DisclosureRule())
    assert section["success_by_goal"]["total"] == 0
    assert section["success_by_goal"]["rate"] == [None, None, None]


def _many(seed: int) -> pl.DataFrame:
    """Closed alerts enough for some counts to be shown and some hidden."""
    import random

    pick = random.Random(seed)
    goals = ["improve"] * 40 + ["maintain"] * 30 + ["prevent"] * 30 + [None] * 5
    rows = []
    for i, goal in enumerate(goals):
        progress = None if goal is None else ("improved", "held_steady", "worsened")[i % 3]
        change = None if i % 9 == 0 else pick.uniform(-0.3, 0.2)
        rows.append(
            {
                "goal": goal,
                "progress": progress,
                "serious_before_closure": pick.random() < 0.1,
                "score_change": change,
                "follow_up": pick.choice(["clear", "high band", "serious event", "not yet due"]),
            }
        )
    frame = pl.DataFrame(rows, schema={k: SCHEMA[k] for k in rows[0]})
    return frame.with_columns(
        success(pl.col("goal"), pl.col("progress"), pl.col("serious_before_closure")).alias(
            "success"
        )
    )


def _tables(section: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in section.values() if isinstance(v, dict)]


def _passes(value: object) -> bool:
    return value == SUPPRESSED or (
        isinstance(value, int) and not 1 <= value <= 7 and value % 5 == 0
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_count_of_the_outcomes_passes_the_rule_and_none_hidden_is_recoverable(
    seed: int,
) -> None:
    frame = _many(seed)
    rule = DisclosureRule()
    section = outcomes_section(frame, rule)
    tables = _tables(section)
    assert len(tables) == 4
    for table in tables:
        published = Protected(
            table["cells"], table["row_totals"], table["column_totals"], table["total"], rule
        )
        assert all(_passes(v) for v in published.values())
        for low, high in recoverable(published).values():
            assert high - low >= 1  # no hidden count pinned down by the others
    assert section["by_goal_and_progress"]["total"] == 105  # every alert
    assert section["by_goal_and_progress"]["rows"] == [
        "improve",
        "maintain",
        "prevent",
        "not recorded",
    ]
    # The rate met is worked out from the counts as shown, hidden where one is.
    met = section["success_by_goal"]
    for cells, rate in zip(met["cells"], met["rate"], strict=True):
        if SUPPRESSED in cells:
            assert rate == SUPPRESSED
        else:
            assert rate == round(cells[0] / (cells[0] + cells[1]), 3)
    assert isinstance(met["rate"][0], float)  # 40 improve goals: shown
    assert met["low"][0] < met["rate"][0] < met["high"][0]
    # A median change only where the count behind it is shown.
    trajectory = section["trajectory_by_goal"]
    for shown, median in zip(trajectory["row_totals"], trajectory["median_change"], strict=True):
        assert (median == SUPPRESSED) == (shown == SUPPRESSED)
    improve = frame.filter(pl.col("goal") == "improve")["score_change"].median()
    assert trajectory["median_change"][0] == round(float(improve), 3)  # type: ignore[arg-type]
