"""Alerts in a real operational store for persons a warehouse scored, as the nightly run
would have raised them: for tests of what comes back from the inbox when they are closed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.store import ALERTS, open_store
from inbox.tables import PROFESSIONAL
from inbox.users import User, add_user, find_user
from risk_models import latest_risk_model, score_night


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


@dataclass(frozen=True)
class Alerted:
    """A store holding alerts of a night's highest scored, and a professional of their
    team who may close them."""

    engine: Engine
    user: User
    references: list[str]


def alert_the_top_scored(
    warehouse: Path, store: str, nights: Sequence[dt.date], count: int, now: dt.datetime
) -> Alerted:
    """Score each night with the newest risk model beside the warehouse (in its data
    folder's models/), then alert the first night's `count` highest scored in the store."""
    for night in nights:
        score_night(warehouse, night, latest_risk_model(warehouse.parent / "models"))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        top = con.sql(
            "SELECT * FROM scores WHERE night = ? ORDER BY score DESC, person_id LIMIT ?",
            params=[nights[0], count],
        ).pl()
    finally:
        con.close()
    engine = open_store(store)
    add_user(engine, "closer@csc.example", "a long enough password", PROFESSIONAL, now, team="csc")
    user = find_user(engine, "closer@csc.example")
    assert user is not None
    return Alerted(engine, user, add_alerts(engine, top, nights[0], now))
