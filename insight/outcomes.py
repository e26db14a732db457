"""Outcomes over time: what came of each alert a professional closed, and what they add up to.

Read from the warehouse's `alert_outcomes` (closed alerts brought back from the inbox by
`inbox.outcomes`), `scores`, `events` and `persons`. For each alert closed in a period:

- **Goal and progress**, recorded at closure: what the professional set out to do
  (improve, maintain or prevent) and how it went (improved, held steady or worsened).
  Both, or neither where there was no goal (an alert closed as mistaken).
- **Success**, judged against the goal (`MET_BY`):
  - *improve* is met when it improved;
  - *maintain* is met when it improved or held steady: holding steady is a good outcome
    for some people, not a failure;
  - *prevent* is met when it did not worsen **and** no serious event (risk.yaml's
    `outcome.types`) was recorded for the person after the alert's night, up to and
    including the day of closure.
  With no goal recorded, success is not judged (null).
- **Trajectory** (the distance travelled): the person's score on the last night scored
  before the alert, the score that raised the alert, and the score on the latest night
  scored up to closure + 182 days once that day has passed, else up to closure.
  `score_change` is that later score less the alert's: below zero, the risk fell. Null
  when no night after the alert's has been scored.
- **The check at closure + 182 days** (six months): *serious event* when one was
  recorded in the 182 days after closure; else *high band* when the person was scored
  high or very high on a night in them; else *clear*. *Not yet due* while the newest
  scored night is before closure + 182 days.

`outcomes_section` adds them up for the insight report: closed alerts by goal and
progress, success by goal with its rate, trajectory and the six-month check by goal, every
count through the disclosure rule; rates, intervals and medians are worked out from the
counts as published, or shown only where the count behind them is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl
from scipy.stats import binomtest

from inbox.tables import GOALS, PROGRESS
from insight.disclosure import SUPPRESSED, DisclosureRule
from insight.tables import crosstab
from risk_models.outcomes import OutcomeConfig, outcome_config

FOLLOW_UP_DAYS = 182  # six months

# The ways of going that meet each goal; a prevent goal also needs no serious event from
# the alert to closure.
MET_BY = {
    "improve": ("improved",),
    "maintain": ("improved", "held_steady"),
    "prevent": ("improved", "held_steady"),
}
NOT_RECORDED = "not recorded"
MET, NOT_MET = "met", "not met"
FOLLOW_UPS = ("clear", "high band", "serious event", "not yet due")
TRAJECTORIES = ("risk fell", "no change", "risk rose", "no later score")

SCHEMA = {
    "reference": pl.String,
    "person_id": pl.String,
    "routed_team": pl.String,
    "alerted_night": pl.Date,
    "closed_on": pl.Date,
    "goal": pl.String,
    "progress": pl.String,
    "serious_before_closure": pl.Boolean,
    "success": pl.Boolean,
    "score_before": pl.Float64,
    "score_at_alert": pl.Float64,
    "score_later": pl.Float64,
    "later_night": pl.Date,
    "trajectory_to": pl.String,
    "score_change": pl.Float64,
    "follow_up_on": pl.Date,
    "follow_up": pl.String,
}

CLOSED = """
WITH closed AS (
    SELECT reference, person_id, routed_team, alerted_night, score AS score_at_alert,
        CAST(closed_at AS DATE) AS closed_on, goal, progress,
        CAST(closed_at AS DATE) + $days AS follow_up_on
    FROM alert_outcomes
    WHERE CAST(closed_at AS DATE) BETWEEN $start AND $end
), timed AS (
    SELECT c.*, coalesce(c.follow_up_on <= (SELECT max(night) FROM scores), false) AS due
    FROM closed c
), linked AS (
    SELECT person_id, unique_id FROM persons WHERE valid_to IS NULL
), serious AS (
    SELECT DISTINCT l.person_id, e.date FROM events e
    JOIN linked l ON l.unique_id = e.source || ':' || e.source_record_id
    WHERE e.valid_to IS NULL AND list_contains($types, e.type)
), ends AS (
    SELECT *, CASE WHEN due THEN follow_up_on ELSE closed_on END AS trajectory_until
    FROM timed
)
SELECT t.reference, t.person_id, t.routed_team, t.alerted_night, t.closed_on, t.goal,
    t.progress,
    EXISTS (
        SELECT 1 FROM serious s WHERE s.person_id = t.person_id
        AND s.date > t.alerted_night AND s.date <= t.closed_on
    ) AS serious_before_closure,
    b.score AS score_before, t.score_at_alert,
    CASE WHEN z.night > t.alerted_night THEN z.score END AS score_later,
    CASE WHEN z.night > t.alerted_night THEN z.night END AS later_night,
    CASE WHEN t.due THEN 'follow-up' ELSE 'closure' END AS trajectory_to,
    t.follow_up_on,
    CASE
        WHEN NOT t.due THEN 'not yet due'
        WHEN EXISTS (
            SELECT 1 FROM serious s WHERE s.person_id = t.person_id
            AND s.date > t.closed_on AND s.date <= t.follow_up_on
        ) THEN 'serious event'
        WHEN EXISTS (
            SELECT 1 FROM scores h WHERE h.person_id = t.person_id
            AND h.night > t.closed_on AND h.night <= t.follow_up_on
            AND h.band IN ('high', 'very_high')
        ) THEN 'high band'
        ELSE 'clear'
    END AS follow_up
FROM ends t
ASOF LEFT JOIN scores b ON b.person_id = t.person_id AND t.alerted_night > b.night
ASOF LEFT JOIN scores z ON z.person_id = t.person_id AND t.trajectory_until >= z.night
ORDER BY t.closed_on, t.reference
"""


def success(goal: pl.Expr, progress: pl.Expr, serious_before_closure: pl.Expr) -> pl.Expr:
    """Whether each closed alert met its goal (`MET_BY`); null where no goal was recorded.

    Examples:
        >>> frame = pl.DataFrame({"g": ["maintain", None], "p": ["held_steady", None]})
        >>> frame.select(success(pl.col("g"), pl.col("p"), pl.lit(False)))["g"].to_list()
        [True, None]
    """
    met: pl.Expr = pl.lit(None, dtype=pl.Boolean)
    for goal_type, ways in MET_BY.items():
        met_here = progress.is_in(list(ways))
        if goal_type == "prevent":
            met_here = met_here & ~serious_before_closure
        met = pl.when(goal == goal_type).then(met_here).otherwise(met)
    return pl.when(progress.is_null()).then(None).otherwise(met)


def closed_alerts(
    con: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    config: OutcomeConfig | None = None,
    follow_up_days: int = FOLLOW_UP_DAYS,
) -> pl.DataFrame:
    """Each alert closed from `start` to `end` (closure days), with its goal, progress,
    success, trajectory and six-month check, as the module's docstring defines them.

    Args:
        con: the warehouse (read-only is enough).
        start, end: the first and last day of closure counted.
        config: the serious events (risk.yaml's `outcome:` if None).
        follow_up_days: the days after closure the check looks at.

    Returns:
        The columns of `SCHEMA`, one row per alert, by closure day; empty when no outcome
        has been brought back to the warehouse yet.
    """
    present = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    if "alert_outcomes" not in present:
        return pl.DataFrame(schema=SCHEMA)
    types = (config or outcome_config()).types
    found: pl.DataFrame = con.sql(
        CLOSED,
        params={"start": start, "end": end, "days": follow_up_days, "types": types},
    ).pl()
    found = found.with_columns(
        success(pl.col("goal"), pl.col("progress"), pl.col("serious_before_closure")).alias(
            "success"
        ),
        (pl.col("score_later") - pl.col("score_at_alert")).alias("score_change"),
    )
    return found.select(pl.col(name).cast(kind) for name, kind in SCHEMA.items())


Rate = tuple[float | str | None, float | str | None, float | str | None]


def _rate(met: int | str, not_met: int | str) -> Rate:
    """The rate met, and its 95% interval (Wilson's), from the counts as published: hidden
    where either count is, None where there are none."""
    if not isinstance(met, int) or not isinstance(not_met, int):
        return SUPPRESSED, SUPPRESSED, SUPPRESSED
    if met + not_met == 0:
        return None, None, None
    interval = binomtest(met, met + not_met).proportion_ci(0.95, method="wilson")
    return (
        round(met / (met + not_met), 3),
        round(float(interval.low), 3),
        round(float(interval.high), 3),
    )


def outcomes_section(frame: pl.DataFrame, rule: DisclosureRule) -> dict[str, Any]:
    """The report's outcomes: `closed_alerts`' rows added up, disclosure-controlled.

    Returns:
        by_goal_and_progress, success_by_goal (with rate, low and high per goal),
        trajectory_by_goal (with median_change per goal) and follow_up_by_goal: each a
        table as `insight.tables.crosstab` gives it.
    """
    goals = [*GOALS, NOT_RECORDED]
    labelled = frame.with_columns(
        pl.col("goal").fill_null(NOT_RECORDED),
        pl.col("progress").fill_null(NOT_RECORDED),
        pl.when(pl.col("success")).then(pl.lit(MET)).otherwise(pl.lit(NOT_MET)).alias("met"),
        pl.when(pl.col("score_change").is_null())
        .then(pl.lit("no later score"))
        .when(pl.col("score_change") < 0)
        .then(pl.lit("risk fell"))
        .when(pl.col("score_change") > 0)
        .then(pl.lit("risk rose"))
        .otherwise(pl.lit("no change"))
        .alias("trajectory"),
    )
    judged = labelled.filter(pl.col("success").is_not_null())
    met = crosstab(judged, "goal", "met", rule, list(GOALS), [MET, NOT_MET])
    rates = [_rate(*cells) for cells in met["cells"]]
    met["rate"], met["low"], met["high"] = (list(column) for column in zip(*rates, strict=True))

    trajectory = crosstab(labelled, "goal", "trajectory", rule, goals, TRAJECTORIES)
    medians = labelled.group_by("goal").agg(pl.col("score_change").median())
    median_of = dict(zip(medians["goal"], medians["score_change"], strict=True))
    trajectory["median_change"] = [
        SUPPRESSED
        if not isinstance(shown, int)
        else (None if median_of.get(goal) is None else round(median_of[goal], 3))
        for goal, shown in zip(goals, trajectory["row_totals"], strict=True)
    ]
    return {
        "follow_up_days": FOLLOW_UP_DAYS,
        "by_goal_and_progress": crosstab(
            labelled, "goal", "progress", rule, goals, [*PROGRESS, NOT_RECORDED]
        ),
        "success_by_goal": met,
        "trajectory_by_goal": trajectory,
        "follow_up_by_goal": crosstab(labelled, "goal", "follow_up", rule, goals, FOLLOW_UPS),
    }
