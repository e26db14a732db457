"""Alerts in a real operational store for persons a warehouse scored, as the nightly run
would have raised them: for tests of what comes back from the inbox when they are closed."""

from __future__ import annotations

import datetime as dt

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.store import ALERTS


def add_alerts(
    engine: Engine, scored: pl.DataFrame, night: dt.date, now: dt.datetime, prefix: str = "OUT"
) -> list[str]:
    """An alert routed to team csc, delivered, for each row of a night's `scores`; returns
    their references (`prefix` and the row's number), in the rows' order."""
    references = []
    with engine.begin() as conn:
        for i, row in enumerate(scored.iter_rows(named=True)):
            reference = f"{prefix}{i:05d}"
            conn.execute(
                sa.insert(ALERTS).values(
                    reference=reference,
                    person_id=row["person_id"],
                    night=night,
                    kind="new_high",
                    triggers_json="[]",
                    dedup_key=f"{row['person_id']}:{night}",
                    band=row["band"],
                    score=row["score"],
                    model_version=row["model_version"],
                    reasons_json=row["reasons"],
                    routed_team="csc",
                    routed_to="csc",
                    recipient_kind="team",
                    routing_rule="test",
                    state="delivered",
                    notify_night=night,
                    created_at=now,
                    updated_at=now,
                    version=1,
                )
            )
            references.append(reference)
    return references
