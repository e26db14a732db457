"""Reach: whom the system reaches, group by group, against the population it serves.

For a grouping of the population (ethnicity, age band, sex, area), each group's people
and how many of them were reached (alerted, or served), and the **reach ratio**: the rate
at which the group's people were reached over the rate for everyone else whose group is
known, with its 95% interval (scipy's relative risk, Katz's log interval). People whose
group no record gives ("unknown") are often known to one register only and reached far
less, so they would drag down "everyone else" and hide a group reached less than the
rest; their own line is compared with everyone known. A ratio whose interval lies below
1 marks a group the system reaches less than the rest: under-served or seldom heard, or
recorded less by the agencies that feed it. Shares of the population and of the reached
are given beside it.

Every count goes through the disclosure rule (`insight.disclosure`) as a table of groups
by reached / not reached. The shares, ratios and intervals are worked out from the
counts as published (rounded), never the true ones, so they tell nothing the counts do
not; a group with a hidden count has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl
from scipy.stats.contingency import relative_risk

from insight.disclosure import SUPPRESSED, DisclosureRule, protect

UNKNOWN = "unknown"  # a person no record gives the grouping of


@dataclass(frozen=True)
class ReachRow:
    """One group's line of the reach table, as it may be published."""

    group: str
    people: int | str  # rounded, or SUPPRESSED
    reached: int | str
    share_of_people: float | str
    share_of_reached: float | str
    ratio: float | str  # reached rate in the group over everyone else's
    low: float | str
    high: float | str


@dataclass(frozen=True)
class ReachTable:
    """The reach of one grouping: a line per group, totals as published."""

    by: str
    rows: list[ReachRow]
    people: int | str
    reached: int | str

    def under_reached(self) -> list[str]:
        """The groups whose whole interval lies below 1."""
        return [r.group for r in self.rows if isinstance(r.high, float) and r.high < 1]


def _rounded(value: float) -> float:
    return round(value, 3)


def reach(
    population: pl.DataFrame,
    reached_ids: pl.Series,
    by: str,
    rule: DisclosureRule | None = None,
) -> ReachTable:
    """The reach table of a grouping, disclosure-controlled.

    Args:
        population: one row per person: `person_id` and the grouping column `by` (a
            missing value is its own group, "unknown").
        reached_ids: the person ids reached (alerted or served) in the period.
        by: the column to group by.
        rule: the disclosure rule (NHS Digital's if None).
    """
    counted = (
        population.select(
            pl.col(by).cast(pl.String).fill_null(UNKNOWN).alias("group"),
            pl.col("person_id").is_in(reached_ids.implode()).alias("reached"),
        )
        .group_by("group")
        .agg(pl.len().alias("people"), pl.col("reached").sum().alias("reached"))
        .sort("group")
    )
    groups = counted["group"].to_list()
    published = protect(
        [[int(r), int(p - r)] for r, p in zip(counted["reached"], counted["people"], strict=True)],
        rule,
    )
    total_people, total_reached = published.total, published.column_totals[0]
    unknown_people: int | str = 0
    unknown_reached: int | str = 0
    if UNKNOWN in groups:
        unknown_people = published.row_totals[groups.index(UNKNOWN)]
        unknown_reached = published.cells[groups.index(UNKNOWN)][0]
    rows = []
    for i, group in enumerate(groups):
        shown_reached, shown_not = published.cells[i]
        shown_people = published.row_totals[i]
        figures: dict[str, float | str] = dict.fromkeys(
            ("share_of_people", "share_of_reached", "ratio", "low", "high"), SUPPRESSED
        )
        counts = (shown_reached, shown_not, shown_people, total_people, total_reached)
        if all(isinstance(v, int) for v in counts):
            a, n = int(shown_reached), int(shown_people)
            big_a, big_n = int(total_reached), int(total_people)
            if big_n:
                figures["share_of_people"] = _rounded(n / big_n)
            if big_a:
                figures["share_of_reached"] = _rounded(a / big_a)
            # Everyone else known: the unknown line's counts out, where they are shown.
            known = isinstance(unknown_people, int) and isinstance(unknown_reached, int)
            if group != UNKNOWN and known:
                big_n, big_a = big_n - int(unknown_people), big_a - int(unknown_reached)
            if n and big_n - n > 0 and 0 <= big_a - a <= big_n - n:
                found = relative_risk(a, n, big_a - a, big_n - n)
                interval = found.confidence_interval(0.95)
                for name, value in (
                    ("ratio", found.relative_risk),
                    ("low", interval.low),
                    ("high", interval.high),
                ):
                    if math.isfinite(value):
                        figures[name] = _rounded(value)
        rows.append(
            ReachRow(
                group=group,
                people=shown_people,
                reached=shown_reached,
                share_of_people=figures["share_of_people"],
                share_of_reached=figures["share_of_reached"],
                ratio=figures["ratio"],
                low=figures["low"],
                high=figures["high"],
            )
        )
    return ReachTable(by, rows, total_people, total_reached)
