"""Reach: a group the system reaches less shows, with an interval; small groups show
nothing that could identify someone."""

from __future__ import annotations

import numpy as np
import polars as pl

from insight import SUPPRESSED, reach


def _population(seed: int = 5) -> tuple[pl.DataFrame, pl.Series]:
    """20,000 people in four groups, each reached at 5% but group C at 2% (planted), and
    a group of five people."""
    rng = np.random.default_rng(seed)
    groups = rng.choice(["A", "B", "C", "D"], size=20_000, p=[0.5, 0.3, 0.15, 0.05])
    groups = np.concatenate([groups, ["E"] * 5])
    rate = np.where(groups == "C", 0.02, 0.05)
    reached = rng.random(groups.size) < rate
    ids = [f"P{i}" for i in range(groups.size)]
    population = pl.DataFrame({"person_id": ids, "group": groups.tolist()})
    return population, pl.Series([i for i, r in zip(ids, reached, strict=True) if r])


def test_the_planted_under_reached_group_is_found() -> None:
    population, reached = _population()
    table = reach(population, reached, "group")
    assert table.under_reached() == ["C"]
    c = next(r for r in table.rows if r.group == "C")
    assert isinstance(c.ratio, float) and 0.3 < c.ratio < 0.55  # 2% against about 5%


def test_every_published_count_passes_the_rule() -> None:
    population, reached = _population()
    table = reach(population, reached, "group")
    counts = [table.people, table.reached]
    for row in table.rows:
        counts += [row.people, row.reached]
    for value in counts:
        assert value == SUPPRESSED or (isinstance(value, int) and value % 5 == 0 and value > 7)
    e = next(r for r in table.rows if r.group == "E")
    assert (e.people, e.ratio, e.share_of_people) == (SUPPRESSED, SUPPRESSED, SUPPRESSED)


def test_a_missing_group_is_its_own_line() -> None:
    population = pl.DataFrame(
        {"person_id": [f"P{i}" for i in range(400)], "sex": ["F", "M", None, "F"] * 100}
    )
    table = reach(population, pl.Series(["P0", "P1"]), "sex")
    assert [r.group for r in table.rows] == ["F", "M", "unknown"]
