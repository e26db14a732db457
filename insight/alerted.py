"""Alert volumes from the operational store, for managers and commissioners: alerts by
month and the team charged with them, alerts by team and state, closures by team and
outcome. Every count passes the disclosure rule; no person's id leaves this module.

The store, not the warehouse, knows every alert and its team as it was routed (the
warehouse's `alert_outcomes` holds closed alerts only), so these tables read it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.store import ALERTS
from insight.disclosure import DisclosureRule
from insight.tables import crosstab


def _frame(engine: Engine, query: sa.Select[Any], schema: dict[str, Any]) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def alerts_by_month_and_team(
    engine: Engine, start: dt.date, end: dt.date, rule: DisclosureRule
) -> dict[str, Any]:
    """Alerts of the nights from `start` to `end`, by month and the team routed to."""
    query = sa.select(ALERTS.c.night, ALERTS.c.routed_team).where(
        ALERTS.c.night.between(start, end)
    )
    alerts = _frame(engine, query, {"night": pl.Date, "team": pl.String})
    months = alerts.select(pl.col("night").dt.strftime("%Y-%m").alias("month"), "team")
    return crosstab(months, "month", "team", rule)


def alerts_by_team_and_state(engine: Engine, rule: DisclosureRule) -> dict[str, Any]:
    """Every alert in the store, by the team routed to and its state now."""
    query = sa.select(ALERTS.c.routed_team, ALERTS.c.state)
    alerts = _frame(engine, query, {"team": pl.String, "state": pl.String})
    return crosstab(alerts, "team", "state", rule)


def closures_by_team_and_outcome(
    engine: Engine, start: dt.date, end: dt.date, rule: DisclosureRule
) -> dict[str, Any]:
    """Alerts closed from `start` to `end` (inclusive), by team and the outcome recorded."""
    # Here, not at the top: the inbox package imports insight for its pages.
    from inbox.tables import OUTCOME_ROWS

    query = (
        sa.select(ALERTS.c.routed_team, OUTCOME_ROWS.c.outcome)
        .join(OUTCOME_ROWS, OUTCOME_ROWS.c.alert_id == ALERTS.c.id)
        .where(
            OUTCOME_ROWS.c.at >= dt.datetime.combine(start, dt.time()),
            OUTCOME_ROWS.c.at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time()),
        )
    )
    closed = _frame(engine, query, {"team": pl.String, "outcome": pl.String})
    return crosstab(closed, "team", "outcome", rule)


def alert_tables(
    engine: Engine, start: dt.date, end: dt.date, rule: DisclosureRule
) -> dict[str, dict[str, Any]]:
    """The period's alert tables for the insight report and the managers' page."""
    return {
        "alerts_by_month_and_team": alerts_by_month_and_team(engine, start, end, rule),
        "closures_by_team_and_outcome": closures_by_team_and_outcome(engine, start, end, rule),
    }
