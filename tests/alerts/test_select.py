"""Selection on tonight's scores: which triggers fire, and the keys that stop them firing twice."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.config import Selection
from alerts.select import candidates, dedup_key, period_start, trigger_name


def _scores(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Frames shaped as `people.tonight_scores` returns them."""

    def rules(names: list[str] | None) -> str | None:
        if names is None:
            return None
        return json.dumps([{"rule": n, "text": f"indicator {n}"} for n in names])

    return pl.DataFrame(
        {
            "person_id": [r["pid"] for r in rows],
            "score": [r.get("score", 0.5) for r in rows],
            "band": [r["band"] for r in rows],
            "model_version": ["m1"] * len(rows),
            "reasons": ["[]"] * len(rows),
            "indicators": [rules(r.get("ind", [])) for r in rows],
            "change": [r.get("change", "steady") for r in rows],
            "previous_band": [r.get("prev") for r in rows],
            "previous_score": [r.get("prev_score") for r in rows],
            "previous_indicators": [rules(r.get("prev_ind")) for r in rows],
        },
        schema_overrides={
            "previous_band": pl.String,
            "previous_score": pl.Float64,
            "previous_indicators": pl.String,
        },
    )


def _fired(scores: pl.DataFrame, selection: Selection | None = None) -> set[tuple[str, str, str]]:
    found = candidates(scores, selection or Selection())
    return set(found.select("person_id", "kind", "rule").iter_rows())


def test_new_entries_into_bands_marked_rises_and_step_downs() -> None:
    scores = _scores(
        [
            {"pid": "first_seen_high", "band": "high", "change": "new"},
            {"pid": "still_high", "band": "high", "prev": "high"},
            {"pid": "high_to_very", "band": "very_high", "prev": "high", "change": "rise"},
            {"pid": "medium_to_high", "band": "high", "prev": "medium", "change": "rise"},
            {"pid": "low_to_medium", "band": "medium", "prev": "low", "change": "rise"},
            {"pid": "fell_out", "band": "low", "prev": "high", "change": "step_down"},
            {"pid": "fell_within", "band": "high", "prev": "very_high", "change": "fall"},
            {"pid": "low", "band": "low", "change": "new"},
        ]
    )
    assert _fired(scores) == {
        ("first_seen_high", "new_high", ""),
        ("high_to_very", "rise", ""),
        ("medium_to_high", "new_high", ""),
        ("medium_to_high", "rise", ""),
        ("fell_out", "step_down", ""),
    }


def test_an_indicator_alerts_only_the_night_it_first_fires() -> None:
    scores = _scores(
        [
            {"pid": "new", "band": "low", "ind": ["three_agencies"]},
            {"pid": "same", "band": "low", "ind": ["three_agencies"],
             "prev_ind": ["three_agencies"]},
            {"pid": "added", "band": "low", "ind": ["da_child", "three_agencies"],
             "prev_ind": ["three_agencies"]},
            {"pid": "none", "band": "low", "ind": []},
        ]
    )  # fmt: skip
    assert _fired(scores) == {
        ("new", "indicator", "three_agencies"),
        ("added", "indicator", "da_child"),
    }
    only = Selection.model_validate({"indicators": {"rules": ["da_child"]}})
    assert _fired(scores, only) == {("added", "indicator", "da_child")}
    off = Selection.model_validate({"indicators": {"enabled": False}})
    assert _fired(scores, off) == set()


def test_settings_change_what_fires() -> None:
    scores = _scores(
        [
            {"pid": "medium_crossing", "band": "medium", "score": 0.55, "prev": "medium",
             "prev_score": 0.3},
            {"pid": "medium_above", "band": "medium", "score": 0.6, "prev": "medium",
             "prev_score": 0.55},
            {"pid": "to_medium", "band": "medium", "prev": "low", "change": "rise"},
            {"pid": "down", "band": "low", "score": 0.1, "prev": "high", "prev_score": 0.8,
             "change": "step_down"},
        ]
    )  # fmt: skip
    assert _fired(scores) == {("down", "step_down", "")}
    wide = Selection.model_validate(
        {
            "bands": ["medium", "high", "very_high"],
            "min_score": 0.5,
            "rise": {"bands": ["medium"]},
            "step_down": {"enabled": False},
        }
    )
    assert _fired(scores, wide) == {
        ("medium_crossing", "new_high", ""),
        ("to_medium", "new_high", ""),
        ("to_medium", "rise", ""),
    }
    threshold = Selection.model_validate({"min_score": 0.5})
    assert ("medium_crossing", "new_high", "") in _fired(scores, threshold)
    assert ("medium_above", "new_high", "") not in _fired(scores, threshold)


def test_dedup_keys_name_person_trigger_period_and_route() -> None:
    night = dt.date(2026, 11, 3)
    start = period_start(night, 28)
    assert start <= night < start + dt.timedelta(days=28)
    assert period_start(start + dt.timedelta(days=27), 28) == start
    assert period_start(start + dt.timedelta(days=28), 28) == start + dt.timedelta(days=28)
    key = dedup_key("P00000007", trigger_name("indicator", "da_child"), start, "police")
    assert key == f"P00000007|indicator:da_child|{start.isoformat()}|police"
    long = dedup_key("P1", "new_high", start, "r" * 400)
    assert len(long) <= 255
    assert long != dedup_key("P1", "new_high", start, "r" * 399)


@given(
    st.dates(min_value=dt.date(2001, 1, 1), max_value=dt.date(2099, 1, 1)),
    st.integers(min_value=1, max_value=120),
)
def test_every_night_falls_in_exactly_one_period(night: dt.date, days: int) -> None:
    start = period_start(night, days)
    assert start <= night < start + dt.timedelta(days=days)
    assert period_start(start, days) == start


@pytest.mark.parametrize("days", [7, 14, 28])
def test_periods_of_whole_weeks_start_on_a_monday(days: int) -> None:
    assert period_start(dt.date(2026, 11, 5), days).weekday() == 0
